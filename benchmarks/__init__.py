"""eggflow's benchmarks (the full harness arrives with its own issue)."""
