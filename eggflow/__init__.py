"""eggflow: a Theano-style optimizing compiler for tensor expressions (e-graph optimizer)."""
