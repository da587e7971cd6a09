"""Write .dvc/plots/offline.html: the page `dvc plots show` fills, with vega, vega-lite and vega-embed
inlined from vl-convert-python's bundle, so it draws with the network off (DVC's own page loads them from a
CDN). .dvc/config makes it the default (`plots.html_template`), so a plain `dvc plots show` uses it.

    python -m pipeline.ops.plots_page    # after upgrading vl-convert-python (the test extra pins it)

The page is committed: a clone needs neither this script nor the package. tests/doors/test_dvc_plots.py checks
that offline.html is what this script makes from the installed vl-convert-python.
"""

from __future__ import annotations

import sys
from importlib.metadata import version

from pipeline.config import PROJECT_ROOT
from pipeline.files.atomic import write_text

PAGE = PROJECT_ROOT / ".dvc" / "plots" / "offline.html"
# dvc-render fills these; the page leaves out `{scripts}`, DVC's <script src> tags for the CDN.
PLACEHOLDERS = ("{plot_divs}", "{refresh_tag}", "{scripts}")
# The bundle's last lines: each plot on DVC's page calls the global vegaEmbed.
GLOBALS = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"

TEMPLATE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC plots</title>
    <!-- Made by pipeline/ops/plots_page.py from vl-convert-python __VL_CONVERT__: vega __VEGA__,
         vega-lite __VEGA_LITE__, vega-embed __VEGA_EMBED__, inlined so the page needs no network. -->
    <script>
    (function () {  // the bundle's own names stay out of the page's scope, where each plot declares `spec`
__BUNDLE__
    })();
    </script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def vega_lite_version(available: list[str]) -> str:
    """The newest Vega-Lite 5, the major version of DVC's templates (and of .dvc/plots/loss_log.json)."""
    return max((v for v in available if v.startswith("5.")), key=lambda v: tuple(int(n) for n in v.split(".")))


def offline_page() -> str:
    import vl_convert

    vega_lite = vega_lite_version(vl_convert.get_vegalite_versions())
    bundle = vl_convert.javascript_bundle(GLOBALS, vl_version=vega_lite)
    clashes = [text for text in (*PLACEHOLDERS, "</script", "<!--") if text in bundle.lower()]
    if clashes:  # dvc-render would replace a placeholder, and the HTML parser would end the script early
        raise SystemExit(f"the bundle holds {clashes}: inlined, it would break the page")
    page = TEMPLATE
    for token, value in {
        "__VL_CONVERT__": version("vl-convert-python"),
        "__VEGA__": vl_convert.get_vega_version(),
        "__VEGA_LITE__": vega_lite,
        "__VEGA_EMBED__": vl_convert.get_vega_embed_version(),
    }.items():
        page = page.replace(token, value)
    return page.replace("__BUNDLE__", bundle)  # last, so that no token is looked for in the bundle's text


def main() -> None:
    write_text(PAGE, offline_page())
    sys.stderr.write(f"wrote {PAGE} ({PAGE.stat().st_size:,} bytes)\n")


if __name__ == "__main__":
    main()
