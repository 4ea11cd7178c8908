"""The bug zoo: broken and healthy training setups with a ground truth, to measure nndoctor's diagnoses."""
