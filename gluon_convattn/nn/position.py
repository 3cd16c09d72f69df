"""Position grids shared by SAN (pairwise) and ACmix."""

__all__ = ['position_grid']


def position_grid(F, x):
    """The (1, 2, H, W) coordinate grid of ``x``'s spatial size, as upstream's ``position(H, W)``.

    Channel 0 is ``linspace(-1, 1, W)`` along the width, channel 1 ``linspace(-1, 1, H)`` along
    the height. Works on symbols too: the size is taken from ``x`` inside the graph.
    """
    plane = F.slice_axis(F.slice_axis(x, axis=0, begin=0, end=1), axis=1, begin=0, end=1)
    grids = []
    for axis in (3, 2):
        index = F.contrib.arange_like(plane, axis=axis)
        last = F.maximum(F.max(index), F.ones_like(F.max(index)))
        coord = F.broadcast_div(index, last) * 2 - 1
        shape = (1, 1, 1, -1) if axis == 3 else (1, 1, -1, 1)
        grids.append(F.broadcast_like(coord.reshape(shape), plane))
    return F.BlockGrad(F.concat(*grids, dim=1))
