"""All differentiable ops as plain functions (``gpugrad.exp`` ...); Tensor methods bind them."""

from .activation import erf, gelu, leaky_relu, log_softmax, silu, softmax, softplus
from .arithmetic import add, div, floor_divide, maximum, minimum, mul, pow, remainder, rsub, sub
from .compare import (
    allclose,
    bitwise_and,
    bitwise_left_shift,
    bitwise_not,
    bitwise_or,
    bitwise_right_shift,
    bitwise_xor,
    eq,
    equal,
    ge,
    greater,
    greater_equal,
    gt,
    isclose,
    isfinite,
    isinf,
    isnan,
    le,
    less,
    less_equal,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    ne,
    not_equal,
    where,
)
from .convert import clone, contiguous, detach, detach_, to, type_as
from .indexing import (
    gather,
    getitem,
    index_select,
    masked_fill,
    masked_select,
    nonzero,
    scatter,
    scatter_add,
    take_along_dim,
)
from .linalg import bmm, dot, linear, matmul, mm, outer
from .loss import cross_entropy, mse_loss, nll_loss
from .misc import (
    addmm,
    all,
    any,
    baddbmm,
    cdist,
    clamp_max,
    clamp_min,
    cumsum,
    einsum,
    repeat_interleave,
    tril,
    triu,
)
from .reduction import (
    amax,
    amin,
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    sum,
    var,
)
from .shape import (
    broadcast_shapes,
    broadcast_tensors,
    broadcast_to,
    cat,
    chunk,
    concat,
    concatenate,
    expand,
    expand_as,
    flatten,
    flip,
    movedim,
    narrow,
    permute,
    repeat,
    reshape,
    split,
    squeeze,
    stack,
    t,
    transpose,
    unbind,
    unflatten,
    unsqueeze,
    view,
)
from .unary import (
    abs,
    ceil,
    clamp,
    cos,
    exp,
    expm1,
    floor,
    log,
    log1p,
    log2,
    neg,
    reciprocal,
    relu,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    tanh,
    trunc,
)

clip = clamp
true_divide = divide = div
multiply = mul
subtract = sub
negative = neg
absolute = abs
swapaxes = swapdims = transpose

# More of PyTorch's API, after the core ops they are built from.
from .counting import *  # noqa: E402
from .math_extra import *  # noqa: E402
from .shape_extra import *  # noqa: E402
from .sorting import *  # noqa: E402
from .stats import *  # noqa: E402
