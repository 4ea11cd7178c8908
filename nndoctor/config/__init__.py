"""The run config: its keys (`schema`), reading and validating a file (`loader`), building the objects it names
(`build`), and writing a template or the options reference (`scaffold`, behind `nndoctor init`)."""
from ..common.errors import did_you_mean
from .build import add_pythonpath, build, check_step_signature, resolve
from .loader import (ConfigError, RunConfig, check_selector, from_dict, load, validate, validate_checks_section,
                     validate_device)
from .schema import DEFAULT_MAX_BATCHES, KEYS, MAPPINGS, REQUIRED, TASKS

__all__ = ["ConfigError", "RunConfig", "DEFAULT_MAX_BATCHES", "KEYS", "MAPPINGS", "REQUIRED", "TASKS",
           "add_pythonpath", "build", "check_selector", "check_step_signature", "did_you_mean", "from_dict", "load",
           "resolve", "validate", "validate_checks_section", "validate_device"]
