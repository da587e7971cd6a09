"""toy-ann-lab: train tiny networks on functions with known answers and read the answer back from the weights.

Importing the package quiets TensorFlow's start-up on this CPU-only project and gives its thread pools one
thread each, before any module loads it (`pipeline/quiet_tensorflow.py`: what is hidden, and why;
`pipeline/ops/threads.py`: the threads, measured).
"""

from pipeline import quiet_tensorflow

quiet_tensorflow.install()
