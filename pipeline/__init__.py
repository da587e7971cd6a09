"""toy-ann-lab: train tiny networks on functions with known answers and read the answer back from the weights."""
import os

# This project runs on CPUs: TensorFlow's C++ start-up chatter about missing CUDA drivers is noise.
# A user who wants it sets TF_CPP_MIN_LOG_LEVEL themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
