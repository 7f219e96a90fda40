import torch
from torch import nn

import lightlab as ll


def test_csr_layers_compute_the_same_and_store_less():
    torch.manual_seed(0)
    dense = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 10))
    pruned = ll.prune.prune(dense, ll.prune.PruneConfig(0.9, exclude=("2",)))
    sparse = ll.sparse.to_sparse(pruned, min_sparsity=0.8)
    assert isinstance(sparse[0], ll.sparse.SparseLinear) and isinstance(sparse[2], nn.Linear)
    x = torch.randn(64, 256)
    with torch.inference_mode():
        assert torch.allclose(sparse(x), pruned(x), atol=1e-5)
    assert ll.sparse.count_nonzero(sparse) == ll.sparse.count_nonzero(pruned) < 0.15 * ll.measure.count_params(dense)
    assert ll.measure.serialized_size(sparse) < 0.35 * ll.measure.serialized_size(pruned)
