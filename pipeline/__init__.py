"""toy-ann-lab: train tiny networks on functions with known answers and read the answer back from the weights."""
