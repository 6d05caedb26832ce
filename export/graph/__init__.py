"""The exported graph: the chunk graph (:mod:`.chunk_graph`) and the masknet's deploy form
(:mod:`.deploy`). Imports ``mobile_core`` only."""

from .chunk_graph import INVERSE_SLICES, ChunkGraph
from .deploy import DeployBlock, deploy_masknet

__all__ = ["INVERSE_SLICES", "ChunkGraph", "DeployBlock", "deploy_masknet"]
