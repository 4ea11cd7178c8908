"""The run engine: the check base class and registry, the user's objects (`subject`) and the context that hands
out copies of them, task inference, isolation (RNG, time box) and the runner. Importing this package imports
nothing; `nndoctor.engine.check` stays free of torch so that `from nndoctor import Check` is light."""
