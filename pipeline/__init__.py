"""toy-ann-lab: train tiny networks on functions with known answers and read the answer back from the weights."""

import os

# This project runs on CPUs: TensorFlow's C++ INFO and WARNING lines about missing CUDA drivers are noise.
# (One ERROR line about cuInit may remain.) A user who wants them sets TF_CPP_MIN_LOG_LEVEL themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
