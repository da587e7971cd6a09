"""Operations around the science, not in it: the tracking server and what the sweeps ask of launchers."""
