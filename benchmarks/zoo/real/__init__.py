"""The second bug zoo: setups modelled on how well-known public PyTorch projects write and train their code.

One module per family (the families are `REAL_FAMILIES` in benchmarks/zoo/registry.py). Each case is written the
way such a project writes it (model computing its own loss, time-major batches, a VAE's tuple output, a sparse
adjacency, a closure optimizer...), not copied from it; each broken case carries, in a comment, the public issue
or forum thread where users report that bug. Data is made in memory (no downloads); the seeds go through
`benchmarks.zoo.cases._common.gen` and `torch.manual_seed`, so `run.py --zoo real --seeds N` redraws them.

    python benchmarks/zoo/run.py --zoo real
"""
