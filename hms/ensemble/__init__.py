"""Meta-learning over the base models: blenders (weighted pool, logistic stacker), nested-CV
scoring on the shared folds, and the `stack` stage."""

from hms.ensemble.blenders import PoolBlender, StackerBlender, blender_from_json, make_blender
from hms.ensemble.config import StackConfig, blended_models, stack_config
from hms.ensemble.nested import NestedCV, nested_cv
from hms.ensemble.apply import blend, load_blender
from hms.ensemble.stack import StackResult, run_stack, write_stack

__all__ = ["PoolBlender", "StackerBlender", "blender_from_json", "make_blender", "StackConfig", "blended_models", "stack_config",
           "NestedCV", "nested_cv", "StackResult", "blend", "load_blender", "run_stack", "write_stack"]
