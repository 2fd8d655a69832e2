"""The frontend: types, op table, graph, tensor API, grad, reference evaluator."""
