"""nndoctor's built-in checks, one module each, registered through the `nndoctor.checks` entry point exactly
as a third-party plugin's checks are."""
