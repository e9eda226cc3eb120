"""Engine-neutral model IR: a neuron model's update as symbolic steps (Brian2's abstract code
turned into sympy, parameter-only coefficients hoisted, removable singularities handled, the
affine form ``S' = A S + b`` derived where it exists), printed by each engine."""
