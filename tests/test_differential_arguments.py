"""Differential tests against PyTorch for invalid and degenerate arguments across the public
API: out-of-range and scalar dims, negative sizes, bool/int tensors where a kernel has no loop
for them, shapes that do not broadcast, bad keyword values (p, bins, chunks, n, rtol ...).

Each case runs in both libraries: gpugrad must raise an exception of PyTorch's builtin type
(RuntimeError, IndexError, ValueError, TypeError, NotImplementedError), never one from NumPy's
internals, with the key part of PyTorch's text where that text is stable; a case where PyTorch
returns a value must return one of the same shape and dtype. A failed in-place call must leave
its tensor unchanged. The cases come from a sweep of the shared API (issue #16)."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
import gpugrad.nn.functional

torch = pytest.importorskip("torch", reason="the differential suite compares with PyTorch")
torch.set_num_threads(2)

_FOREIGN = ("/numpy/", "/scipy/", "/numba/", "/cupy/")


def T(L, *shape, dtype="float32", lo=0.1, hi=0.9):
    """The same tensor in either library (values drawn from a seed fixed by the shape)."""
    rng = np.random.default_rng(sum(shape) * 7 + len(shape))
    n = int(np.prod(shape)) if shape else 1
    if dtype == "bool":
        a = rng.integers(0, 2, n).astype(bool)
    elif dtype.startswith("int"):
        a = rng.integers(int(lo), int(hi), n).astype(dtype)
    else:
        a = rng.uniform(lo, hi, n).astype(dtype)
    a = a.reshape(shape)
    return torch.from_numpy(a.copy()) if L is torch else gpugrad.tensor(a.copy())


def B(L, *shape):
    return T(L, *shape, dtype="bool")


def I(L, *shape, hi=2):  # noqa: E743 - an index tensor
    return T(L, *shape, dtype="int64", lo=0, hi=hi)


def F(L):
    return L.nn.functional


# (id, call, key): ``call(L)`` runs the case in library L; ``key`` is the part of PyTorch's
# text gpugrad must give too (None where PyTorch's text is not stable or names its kernels)
RAISES = [
    # negative sizes: creation ops (NumPy raises "negative dimensions are not allowed")
    ("rand(2,-1)", lambda L: L.rand(2, -1), "negative dimension -1"),
    ("randn(-1)", lambda L: L.randn(-1), "negative dimension -1"),
    ("randint size<0", lambda L: L.randint(0, 5, (-1, 2)), "negative dimension -1"),
    ("randperm(-1)", lambda L: L.randperm(-1), "negative dimension -1"),
    ("eye(-1)", lambda L: L.eye(-1), "n must be greater or equal to 0, got -1"),
    ("eye(2,-1)", lambda L: L.eye(2, -1), "m must be greater or equal to 0, got -1"),
    # dtypes a kernel has no loop for
    ("rand int64", lambda L: L.rand(2, dtype=L.int64), "not implemented for 'Long'"),
    ("randn bool", lambda L: L.randn(2, dtype=L.bool), "not implemented for 'Bool'"),
    ("rand_like int", lambda L: L.rand_like(I(L, 3)), "not implemented for 'Long'"),
    ("bernoulli int", lambda L: L.bernoulli(I(L, 3)), "not implemented for 'Long'"),
    ("bernoulli p<0", lambda L: L.bernoulli(T(L, 3), p=-1.0), "bernoulli_ expects p to be in"),
    ("bernoulli in>1", lambda L: L.bernoulli(T(L, 3, lo=2, hi=3)), "p_in >= 0 && p_in <= 1"),
    ("poisson int", lambda L: L.poisson(I(L, 3)), "not implemented for 'Long'"),
    ("poisson rate<0", lambda L: L.poisson(T(L, 3, lo=-2, hi=-1)), "invalid Poisson rate"),
    ("frac int", lambda L: L.frac(I(L, 3)), "not implemented for 'Long'"),
    ("abs bool", lambda L: L.abs(B(L, 3)), "not implemented for 'Bool'"),
    ("floor bool", lambda L: L.floor(B(L, 3)), "not implemented for 'Bool'"),
    ("ceil bool", lambda L: L.ceil(B(L, 3)), "not implemented for 'Bool'"),
    ("trunc bool", lambda L: L.trunc(B(L, 3)), "not implemented for 'Bool'"),
    ("round bool", lambda L: L.round(B(L, 3)), "not implemented for 'Bool'"),
    ("binomial int count", lambda L: L.binomial(I(L, 3), T(L, 3)), "for count, got: Long"),
    ("binomial dtypes", lambda L: L.binomial(T(L, 3), T(L, 3).double()), "but expected Float"),
    ("sub bool tensor", lambda L: L.sub(B(L, 3), T(L, 3)), "with a bool tensor is not"),
    ("sub bool scalar", lambda L: L.sub(T(L, 3), True), "with a bool tensor is not"),
    ("rsub bool", lambda L: L.rsub(T(L, 3), B(L, 3)), "with a bool tensor is not"),
    ("bool - bool", lambda L: B(L, 3) - B(L, 3), "with two bool tensors"),
    ("isclose dtypes", lambda L: L.isclose(T(L, 3), T(L, 3).double()), "Float did not match"),
    ("allclose dtypes", lambda L: L.allclose(I(L, 3), T(L, 3)), "Long did not match Float"),
    ("isclose rtol<0", lambda L: L.isclose(T(L, 3), T(L, 3), rtol=-1.0), "rtol must be"),
    # shapes that do not broadcast (NumPy's "shape mismatch" / "operands could not be ...")
    ("allclose shapes", lambda L: L.allclose(T(L, 2, 4), T(L, 5)), "size of tensor a (4)"),
    ("igamma shapes", lambda L: L.igamma(T(L, 2, 4), T(L, 5)), "size of tensor a (4)"),
    ("gammaincc shapes", lambda L: L.special.gammaincc(T(L, 4), T(L, 5)), "size of tensor a"),
    ("binomial shapes", lambda L: L.binomial(T(L, 2, 4), T(L, 5)), "size of tensor a (4)"),
    ("copy_ shapes", lambda L: T(L, 2, 4).copy_(T(L, 5)), "size of tensor a (4)"),
    ("copy_ to 0-d", lambda L: T(L).copy_(T(L, 5)), "output with shape [] doesn't match"),
    ("copy_ lead", lambda L: T(L, 2, 4).copy_(T(L, 3, 2, 4)), "doesn't match the broadcast"),
    # 0-d and 1-d tensors where PyTorch wants a dimension (IndexError "tuple index out of
    # range" from shape[dim], or NumPy's tril / flipud errors)
    ("chunk 0-d", lambda L: L.chunk(T(L), 2), "chunk expects at least a 1-dimensional"),
    ("split 0-d", lambda L: L.split(T(L), 1), "split expects at least a 1-dimensional"),
    ("tensor_split 0-d", lambda L: L.tensor_split(T(L), 2), "expected at least a 1-dimensional"),
    ("unbind 0-d", lambda L: L.unbind(T(L)), "Dimension specified as 0 but tensor has no"),
    ("diff 0-d", lambda L: L.diff(T(L)), "diff expects input to be at least one-dimensional"),
    ("tril 0-d", lambda L: L.tril(T(L)), "tril: input tensor must have at least 2 dimensions"),
    ("triu 1-d", lambda L: L.triu(T(L, 5)), "triu: input tensor must have at least 2 dimensions"),
    ("Tensor.tril_ 1-d", lambda L: T(L, 5).tril_(), "tril: input tensor must have at least 2"),
    ("flipud 0-d", lambda L: L.flipud(T(L)), "Input must be >= 1-d."),
    ("glu 0-d", lambda L: F(L).glu(T(L)), "glu does not support scalars"),
    ("glu dim=5", lambda L: F(L).glu(T(L, 2, 4), 5), "Dimension out of range"),
    # bad counts
    ("chunk(-1)", lambda L: L.chunk(T(L, 4), -1), "chunk expects `chunks` to be greater than 0"),
    ("chunk(0)", lambda L: T(L, 4).chunk(0), "chunk expects `chunks` to be greater than 0"),
    ("diff n=-1", lambda L: L.diff(T(L, 4), n=-1), "order must be non-negative but got -1"),
    ("repeat(2,-1)", lambda L: T(L, 2, 3).repeat(2, -1), "negative dimension -3: [4, -3]"),
    ("tile negative", lambda L: L.tile(T(L, 2, 3), (-1,)), "negative dimension -3"),
    ("repeat_interleave(-1)", lambda L: L.repeat_interleave(T(L, 3), -1), "Repeats must be"),
    (
        "repeat_interleave tensor<0",
        lambda L: L.repeat_interleave(T(L, 2, 3), L.tensor([-1, 1]), dim=0),
        "repeats can not be negative",
    ),
    ("histc bins=0", lambda L: L.histc(T(L, 5), bins=0), "bins must be > 0, but got 0"),
    ("histc int", lambda L: L.histc(I(L, 5, hi=4)), "not implemented for 'Long'"),
    ("cdist p<0", lambda L: L.cdist(T(L, 2, 3), T(L, 4, 3), p=-1.0), "non-negative p values"),
    ("cdist int", lambda L: L.cdist(I(L, 2, 3), T(L, 4, 3)), "X1 got: Long"),
    ("cdist 0-d", lambda L: L.cdist(T(L), T(L, 4, 3)), "at least 2D tensors, X1 got: 0D"),
    ("cdist mode", lambda L: L.cdist(T(L, 2, 3), T(L, 4, 3), compute_mode="x"), "compute_mode"),
    ("cdist bad kw", lambda L: L.cdist(T(L, 2, 3), T(L, 4, 3), foo=1), "unexpected keyword"),
    ("outer 2-D", lambda L: L.outer(T(L, 3), T(L, 2, 2)), "Expected 1-D argument vec2"),
    ("outer 0-d", lambda L: L.outer(T(L), T(L, 2)), "Expected 1-D argument self, but got 0-D"),
    ("masked_select int mask", lambda L: L.masked_select(T(L, 3), I(L, 3)), "BoolTensor"),
    # pooling and fold/unfold geometry (NumPy's pad: "index can't contain negative values";
    # a zero stride: ZeroDivisionError; a zero dilation was accepted)
    ("max_pool2d pad<0", lambda L: F(L).max_pool2d(T(L, 1, 2, 6, 6), 2, padding=-1), "non-neg"),
    ("avg_pool2d pad<0", lambda L: F(L).avg_pool2d(T(L, 1, 2, 6, 6), 2, padding=-1), "non-neg"),
    ("max_pool1d pad<0", lambda L: F(L).max_pool1d(T(L, 2, 6), 2, padding=-1), "non-negative"),
    ("max_pool2d dil=0", lambda L: F(L).max_pool2d(T(L, 1, 2, 6, 6), 2, dilation=0), "than zero"),
    ("max_pool1d dil=0", lambda L: F(L).max_pool1d(T(L, 2, 6), 2, dilation=0), "than zero"),
    (
        "unfold pad<0",
        lambda L: F(L).unfold(T(L, 1, 2, 6, 6), 2, padding=-1),
        "padding should be non-negative, but got pad_height: -1 pad_width: -1",
    ),
    (
        "unfold stride=0",
        lambda L: F(L).unfold(T(L, 1, 2, 6, 6), 2, stride=0),
        "stride should be greater than zero, but got stride_height: 0 stride_width: 0",
    ),
    (
        "unfold dilation=0",
        lambda L: F(L).unfold(T(L, 1, 2, 6, 6), 2, dilation=0),
        "dilation should be greater than zero",
    ),
    ("unfold kernel=0", lambda L: F(L).unfold(T(L, 1, 2, 6, 6), 0), "kernel size should be"),
    ("fold stride=0", lambda L: F(L).fold(T(L, 1, 8, 9), 4, 2, stride=0), "stride should be"),
    (
        "adaptive_avg_pool2d(-1)",
        lambda L: F(L).adaptive_avg_pool2d(T(L, 2, 3, 4), -1),
        "elements of output_size must be greater than or equal to 0",
    ),
    ("multinomial 0-d", lambda L: L.multinomial(T(L), 1), "prob_dist must be 1 or 2 dim"),
    ("multinomial int", lambda L: L.multinomial(I(L, 3, 3), 1), "got: Long"),
    ("multinomial n<0", lambda L: L.multinomial(T(L, 3, 3), -1), "n_sample <= 0 samples"),
    ("adaptive_max_pool2d(-1)", lambda L: F(L).adaptive_max_pool2d(T(L, 2, 3, 4), -1), "neg"),
    # None (or another non-Tensor) where a Tensor goes: PyTorch's parser names the argument
    # (gpugrad raised "AttributeError: 'NoneType' object has no attribute '_data'")
    ("add(x, None)", lambda L: L.add(T(L, 3), None), "add(): argument 'other' (position 2)"),
    ("add(None, x)", lambda L: L.add(None, T(L, 3)), "argument 'input' (position 1) must be"),
    ("add(other=None)", lambda L: L.add(T(L, 3), other=None), "argument 'other' must be Tensor"),
    ("Tensor.add(None)", lambda L: T(L, 3).add(None), "add(): argument 'other' (position 1)"),
    ("Tensor.add_(None)", lambda L: T(L, 3).add_(None), "add_(): argument 'other' (position 1)"),
    ("mul(x, None)", lambda L: L.mul(T(L, 3), None), "must be Tensor, not NoneType"),
    ("x + None", lambda L: T(L, 3) + None, None),
    ("abs(None)", lambda L: L.abs(None), "abs(): argument 'input' (position 1) must be Tensor"),
    (
        "abs(list)",
        lambda L: L.abs([1.0]),
        "abs(): argument 'input' (position 1) must be Tensor, not list",
    ),
    ("exp(int)", lambda L: L.exp(1), "must be Tensor, not int"),
    ("sum(None)", lambda L: L.sum(None), "sum(): argument 'input' (position 1) must be Tensor"),
    ("max(None)", lambda L: L.max(None), "max(): argument 'input' (position 1) must be Tensor"),
    ("zeros_like(None)", lambda L: L.zeros_like(None), "zeros_like(): argument 'input'"),
    ("reshape(None)", lambda L: L.reshape(None, (2,)), "reshape(): argument 'input' (position 1)"),
    ("flatten(None)", lambda L: L.flatten(None), "flatten(): argument 'input' (position 1)"),
    ("Tensor.expand_as(None)", lambda L: T(L, 3).expand_as(None), "argument 'other' (position 1)"),
    ("Tensor.view_as(None)", lambda L: T(L, 3).view_as(None), "view_as(): argument 'other'"),
    (
        "matmul(None, x)",
        lambda L: L.matmul(None, T(L, 3)),
        "matmul(): argument 'input' (position 1)",
    ),
    (
        "matmul(x, None)",
        lambda L: L.matmul(T(L, 3), None),
        "matmul(): argument 'other' (position 2)",
    ),
    ("Tensor.mm(None)", lambda L: T(L, 2, 2).mm(None), "mm(): argument 'mat2' (position 1)"),
    ("gather index None", lambda L: T(L, 2, 3).gather(1, None), "argument 'index' (position 2)"),
    ("torch.gather index None", lambda L: L.gather(T(L, 2, 3), 1, None), "'index' (position 3)"),
    (
        "cat([x, None])",
        lambda L: L.cat([T(L, 3), None]),
        "expected Tensor as element 1 in argument 0",
    ),
    ("stack([None])", lambda L: L.stack([None]), "expected Tensor as element 0 in argument 0"),
    (
        "broadcast_tensors(None, x)",
        lambda L: L.broadcast_tensors(None, T(L, 3)),
        "element 0 in arg",
    ),
    ("linalg.det(None)", lambda L: L.linalg.det(None), "linalg_det(): argument 'A' (position 1)"),
    ("special.erf(None)", lambda L: L.special.erf(None), "special_erf(): argument 'input'"),
    ("F.relu(None)", lambda L: F(L).relu(None), "relu(): argument 'input' (position 1) must be"),
    ("F.gelu(None)", lambda L: F(L).gelu(None), "gelu(): argument 'input' (position 1) must be"),
    ("F.avg_pool2d(None)", lambda L: F(L).avg_pool2d(None, 2), "avg_pool2d(): argument 'input'"),
    (
        "F.linear weight None",
        lambda L: F(L).linear(T(L, 2, 3), None),
        "argument 'weight' (position 2)",
    ),
    ("F.layer_norm(None)", lambda L: F(L).layer_norm(None, (3,)), "layer_norm(): argument 'input'"),
    # float-only kernels given integer or bool tensors (gpugrad computed them in float)
    ("elu int", lambda L: F(L).elu(I(L, 3)), "\"elu_cpu\" not implemented for 'Long'"),
    ("celu bool", lambda L: F(L).celu(B(L, 3)), "\"elu_cpu\" not implemented for 'Bool'"),
    ("selu int", lambda L: F(L).selu(I(L, 3)), "\"elu_cpu\" not implemented for 'Long'"),
    ("elu_ int", lambda L: F(L).elu_(I(L, 3)), "\"elu_cpu\" not implemented for 'Long'"),
    ("gelu int", lambda L: F(L).gelu(I(L, 3)), '"GeluKernelImpl" not implemented for'),
    ("silu int", lambda L: F(L).silu(I(L, 3)), "\"silu_cpu\" not implemented for 'Long'"),
    ("softplus bool", lambda L: F(L).softplus(B(L, 3)), '"softplus_cpu" not implemented'),
    ("hardswish int", lambda L: F(L).hardswish(I(L, 3)), '"hardswish_cpu" not implemented'),
    ("hardsigmoid int", lambda L: F(L).hardsigmoid(I(L, 3)), '"hardsigmoid_cpu" not impl'),
    ("hardshrink int", lambda L: F(L).hardshrink(I(L, 3)), '"hardshrink_cpu" not impl'),
    ("Tensor.hardshrink bool", lambda L: B(L, 3).hardshrink(), '"hardshrink_cpu" not impl'),
    ("softshrink int", lambda L: F(L).softshrink(I(L, 3)), '"softshrink_check" not impl'),
    ("leaky_relu int", lambda L: F(L).leaky_relu(I(L, 3)), '"leaky_relu_cpu" not impl'),
    ("mish int", lambda L: F(L).mish(I(L, 3)), "\"mish_cpu\" not implemented for 'Long'"),
    ("logsigmoid int", lambda L: F(L).logsigmoid(I(L, 3)), '"log_sigmoid_cpu" not impl'),
    ("glu int", lambda L: F(L).glu(I(L, 4)), "\"glu_cpu\" not implemented for 'Long'"),
    ("threshold bool", lambda L: F(L).threshold(B(L, 3), 0.5, 0.0), '"threshold_cpu" not'),
    ("relu bool", lambda L: F(L).relu(B(L, 3)), "Boolean inputs not supported for relu"),
    ("argmax bool", lambda L: L.argmax(B(L, 3), 0), "argmax(): does not support bool input"),
    ("Tensor.argmin bool", lambda L: B(L, 3).argmin(), "argmin(): does not support bool input"),
    ("topk bool", lambda L: L.topk(B(L, 3), 1), "topk does not support bool dtypes on CPU"),
    ("quantile int", lambda L: L.quantile(I(L, 3), 0.5), "must be either float or double dtype"),
    ("quantile half", lambda L: L.quantile(T(L, 3).half(), 0.5), "either float or double"),
    ("kl_div int target", lambda L: F(L).kl_div(T(L, 3), I(L, 3), reduction="sum"), "Integral"),
    ("kl_div bool input", lambda L: F(L).kl_div(B(L, 3), T(L, 3), reduction="sum"), "Integral"),
    ("Tensor.relu_ bool", lambda L: B(L, 3).relu_(), "Boolean inputs not supported for relu"),
    ("relu6 bool", lambda L: F(L).relu6(B(L, 3)), "Bool inputs not supported for hardtanh"),
    ("hardtanh bool", lambda L: F(L).hardtanh(B(L, 3)), "Bool inputs not supported for hardtanh"),
    ("layer_norm int", lambda L: F(L).layer_norm(I(L, 2, 4), (4,)), '"LayerNormKernelImpl"'),
    ("group_norm int", lambda L: F(L).group_norm(I(L, 2, 4, 3), 2), '"GroupNormKernelImpl"'),
    ("batch_norm int", lambda L: F(L).batch_norm(I(L, 2, 3), None, None, training=True), '"b'),
    ("instance_norm int", lambda L: F(L).instance_norm(I(L, 2, 3, 4)), '"batch_norm" not'),
    ("rms_norm int", lambda L: F(L).rms_norm(I(L, 2, 4), (4,)), '"rms_norm" not implemented'),
    ("nll_loss int", lambda L: F(L).nll_loss(I(L, 2, 3), I(L, 2)), '"nll_loss_out_frame"'),
    ("median bool", lambda L: L.median(B(L, 4)), "\"median_cpu\" not implemented for 'Bool'"),
    ("kthvalue bool", lambda L: L.kthvalue(B(L, 4), 1), '"kthvalue_cpu" not implemented'),
    ("max_pool2d bool", lambda L: F(L).max_pool2d(B(L, 1, 2, 4, 4), 2), '"max_pool2d" not imp'),
    ("max_pool1d int", lambda L: F(L).max_pool1d(I(L, 2, 4), 2), '"max_pool1d_impl" not imp'),
    ("avg_pool2d bool", lambda L: F(L).avg_pool2d(B(L, 2, 4, 4), 2), '"avg_pool2d" not imp'),
    ("avg_pool1d bool", lambda L: F(L).avg_pool1d(B(L, 2, 4), 2), '"avg_pool2d" not imp'),
    (
        "adaptive_avg_pool2d int",
        lambda L: F(L).adaptive_avg_pool2d(I(L, 1, 2, 4, 4), 2),
        "\"adaptive_avg_pool2d\" not implemented for 'Long'",
    ),
    (
        "adaptive_max_pool1d bool",
        lambda L: F(L).adaptive_max_pool1d(B(L, 2, 4), 2),
        "\"adaptive_max_pool2d\" not implemented for 'Bool'",
    ),
    (
        "interpolate int",
        lambda L: F(L).interpolate(I(L, 1, 2, 4), size=8),
        "\"compute_indices_weights_nearest\" not implemented for 'Long'",
    ),
    (
        "interpolate bool bilinear",
        lambda L: F(L).interpolate(B(L, 1, 2, 4, 4), size=8, mode="bilinear"),
        '"upsample_bilinear2d_channels_last" not implemented',
    ),
    (
        "interpolate int linear",
        lambda L: F(L).interpolate(I(L, 1, 2, 4), size=8, mode="linear"),
        '"compute_indices_weights_linear" not implemented',
    ),
    ("conv2d bool", lambda L: F(L).conv2d(B(L, 1, 2, 4, 4), B(L, 3, 2, 2, 2)), '"slow_conv2d_cpu"'),
    ("conv1d bool", lambda L: F(L).conv1d(B(L, 1, 2, 4), B(L, 3, 2, 2)), '"slow_conv2d_cpu"'),
    (
        "conv2d bool dilated",
        lambda L: F(L).conv2d(B(L, 1, 2, 4, 4), B(L, 3, 2, 2, 2), dilation=2),
        '"slow_conv_dilated<>" not implemented',
    ),
    (
        "conv3d bool",
        lambda L: F(L).conv3d(B(L, 1, 2, 4, 4, 4), B(L, 3, 2, 2, 2, 2)),
        '"compute_columns3d" not implemented',
    ),
    (
        "conv_transpose1d bool",
        lambda L: F(L).conv_transpose1d(B(L, 1, 2, 4), B(L, 2, 3, 2)),
        '"slow_conv_transpose2d_out_cpu" not implemented',
    ),
    (
        "conv_transpose3d bool",
        lambda L: F(L).conv_transpose3d(B(L, 1, 2, 4, 4, 4), B(L, 2, 3, 2, 2, 2)),
        '"slow_conv_transpose3d_out_cpu" not implemented',
    ),
    ("unfold int", lambda L: F(L).unfold(I(L, 1, 2, 4, 4), 2), '"im2col_out_cpu" not impl'),
    ("fold int", lambda L: F(L).fold(I(L, 1, 8, 9), 4, 2), '"col2im_out_cpu" not implemented'),
    (
        "bce_with_logits int",
        lambda L: F(L).binary_cross_entropy_with_logits(I(L, 3), T(L, 3)),
        "\"log_sigmoid_cpu\" not implemented for 'Long'",
    ),
    (
        "bce_with_logits bool",
        lambda L: F(L).binary_cross_entropy_with_logits(B(L, 3), B(L, 3)),
        "\"log_sigmoid_cpu\" not implemented for 'Bool'",
    ),
    ("trace bool", lambda L: L.trace(B(L, 3, 3)), "\"trace\" not implemented for 'Bool'"),
    ("bincount bool", lambda L: L.bincount(B(L, 3)), '"bincount_cpu" not implemented for'),
    ("bitwise_not float", lambda L: L.bitwise_not(T(L, 3)), '"bitwise_not_cpu" not implemented'),
    ("~float", lambda L: ~T(L, 3), "~ (operator.invert) is only implemented on integer"),
    ("special.round int", lambda L: L.special.round(I(L, 3)), '"round_vml_cpu" not implemented'),
    ("round(decimals) int", lambda L: L.round(I(L, 3), decimals=1), '"round_cpu" not impl'),
    # operands of two dtypes where PyTorch's kernel wants one (NumPy promoted them)
    (
        "addmm input dtype",
        lambda L: L.addmm(T(L, 2, 2).double(), T(L, 2, 2), T(L, 2, 2)),
        "self and mat2 must have the same dtype, but got Double and Float",
    ),
    (
        "addmm mat1 dtype",
        lambda L: L.addmm(T(L, 2, 2), T(L, 2, 2).double(), T(L, 2, 2)),
        "mat1 and mat2 must have the same dtype, but got Double and Float",
    ),
    (
        "lerp end dtype",
        lambda L: L.lerp(T(L, 3), T(L, 3).double(), 0.5),
        "expected dtype float for `end` but got dtype double",
    ),
    (
        "lerp weight dtype",
        lambda L: L.lerp(T(L, 3), T(L, 3), I(L, 3)),
        "expected dtype float for `weight` but got dtype long int",
    ),
    ("lerp int", lambda L: L.lerp(I(L, 3), I(L, 3), 0.5), '"lerp_kernel_scalar" not impl'),
    (
        "bce target dtype",
        lambda L: F(L).binary_cross_entropy(T(L, 3), T(L, 3).double()),
        "Found dtype Double but expected Float",
    ),
    (
        "bce int",
        lambda L: F(L).binary_cross_entropy(I(L, 3, hi=1), I(L, 3)),
        "\"binary_cross_entropy\" not implemented for 'Long'",
    ),
    (
        "baddbmm input dtype",
        lambda L: L.baddbmm(T(L, 2, 2).double(), T(L, 2, 2, 2), T(L, 2, 2, 2)),
        "Input dtypes must be the same, got: input double, batch1: float, batch2: float",
    ),
    (
        "baddbmm bool",
        lambda L: L.baddbmm(B(L, 2, 2, 2), B(L, 2, 2, 2), B(L, 2, 2, 2)),
        "\"baddbmm\" not implemented for 'Bool'",
    ),
    (
        "bilinear dtypes",
        lambda L: F(L).bilinear(T(L, 4, 3), T(L, 4, 5).double(), T(L, 7, 3, 5)),
        "All tensors must have the same dtype, got input1: float, input2: double, weight: float",
    ),
    (
        "bilinear bias dtype",
        lambda L: F(L).bilinear(T(L, 4, 3), T(L, 4, 5), T(L, 7, 3, 5), T(L, 7).double()),
        "weight: float, bias: double",
    ),
    (
        "bilinear ranks",
        lambda L: F(L).bilinear(T(L, 3), T(L, 4, 5), T(L, 7, 3, 5)),
        "bilinear(): input dimensions do not match: got 1 and 2",
    ),
    ("bmm bool", lambda L: L.bmm(B(L, 2, 2, 2), B(L, 2, 2, 2)), '"bmm" not implemented for'),
    ("mm bool", lambda L: L.mm(B(L, 2, 2), B(L, 2, 2)), '"addmm_impl_cpu_" not implemented'),
    ("matmul bool 2@1", lambda L: L.matmul(B(L, 2, 2), B(L, 2)), '"addmv_impl_cpu" not impl'),
    ("matmul bool 1@3", lambda L: L.matmul(B(L, 2), B(L, 2, 2, 2)), '"bmm" not implemented'),
    ("dot bool", lambda L: L.dot(B(L, 2), B(L, 2)), "\"dot\" not implemented for 'Bool'"),
    ("linear bool", lambda L: F(L).linear(B(L, 2, 2), B(L, 3, 2)), '"addmm_impl_cpu_" not'),
    # degenerate geometry NumPy turned into an empty result
    ("Tensor.unfold size<0", lambda L: T(L, 2, 4).unfold(1, -1, 1), "size is -1 but must be >= 0"),
    ("pad crop > size", lambda L: F(L).pad(T(L, 2, 3), (-2, -2)), "narrow(): length must be"),
    ("pad crop then pad", lambda L: F(L).pad(T(L, 2, 3), (-4, 2)), "narrow(): length must be"),
    (
        "conv2d empty weight",
        lambda L: F(L).conv2d(T(L, 1, 2, 4, 4), T(L, 0, 2, 2, 2)),
        "Given groups=1, expected weight to be at least 1 at dimension 0, but got weight of "
        "size [0, 2, 2, 2] instead",
    ),
    (
        "conv1d empty weight groups=2",
        lambda L: F(L).conv1d(T(L, 1, 2, 4), T(L, 0, 1, 2), groups=2),
        "expected weight to be at least 2 at dimension 0",
    ),
    (
        "conv_transpose1d no outputs",
        lambda L: F(L).conv_transpose1d(T(L, 1, 2, 4), T(L, 2, 0, 2)),
        "non-empty 2D or 4D weight tensor expected, but got: [2, 0, 1, 2]",
    ),
    (
        "conv_transpose3d no outputs",
        lambda L: F(L).conv_transpose3d(T(L, 1, 2, 4, 4, 4), T(L, 2, 0, 2, 2, 2)),
        "tensor expected for weight, but got: [2, 0, 2, 2, 2]",
    ),
    (
        "cosine_similarity eps<0",
        lambda L: F(L).cosine_similarity(T(L, 2, 3), T(L, 2, 3), eps=-0.5),
        "eps must be non-negative, got: -0.5",
    ),
    (
        "meshgrid 2-d",
        lambda L: L.meshgrid(T(L, 3), T(L, 2, 2), indexing="ij"),
        "torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got:",
    ),
    (
        "interpolate size<0",
        lambda L: F(L).interpolate(T(L, 1, 2, 4), size=-1),
        "Input and output sizes should be greater than 0, but got input (W: 4) and output (W: -1)",
    ),
    (
        "interpolate 2-d size 0",
        lambda L: F(L).interpolate(T(L, 1, 2, 4, 4), scale_factor=0.1),
        "greater than 0, but got input (H: 4, W: 4) output (H: 0, W: 0)",
    ),
    (
        "index_add source rank",
        lambda L: T(L, 2, 3, 4).index_add(1, I(L, 2), T(L, 5)),
        "index_add_(): Indexing dim 1 is out of bounds of the source tensor with dim 1",
    ),
    (
        "index_copy source rank",
        lambda L: T(L, 2, 3, 4).index_copy(1, I(L, 2), T(L, 5)),
        "their dimensionality must match. Source dimensionality (1), destination "
        "dimensionality (3)",
    ),
    (
        "index_copy scalar source",
        lambda L: T(L, 2, 3, 4).index_copy(1, I(L, 2), T(L)),
        "When source is scalar, index should have one element (got 2)",
    ),
    # a None where a Number goes: arithmetic on it in the op, named as PyTorch's parser names it
    ("add alpha=None", lambda L: L.add(T(L, 3), T(L, 3), alpha=None), "'alpha' must be Number"),
    ("sub alpha=None", lambda L: L.sub(T(L, 3), T(L, 3), alpha=None), "'alpha' must be Number"),
    ("Tensor.add_ alpha=None", lambda L: T(L, 3).add_(T(L, 3), alpha=None), "must be Number"),
    ("rsub alpha=None", lambda L: L.rsub(T(L, 3), T(L, 3), alpha=None), None),
    ("F.elu(x, None)", lambda L: F(L).elu(T(L, 3), None), "'alpha' (position 2) must be Number"),
    ("F.celu alpha=None", lambda L: F(L).celu(T(L, 3), alpha=None), "must be Number, not None"),
    ("special.ndtr(None)", lambda L: L.special.ndtr(None), "must be Tensor, not NoneType"),
    ("numel(None)", lambda L: L.numel(None), "argument 'input' (position 1) must be Tensor"),
    ("index_put(None)", lambda L: L.index_put(None, (I(L, 2),), T(L, 2)), "must be Tensor, not No"),
    ("spmm(None, t)", lambda L: L.spmm(None, T(L, 3, 3)), "must be Tensor, not NoneType"),
    ("sparse_coo_tensor(None)", lambda L: L.sparse_coo_tensor(None, T(L, 3)), None),
    # a None standing for a scalar (NumPy made it NaN, or an empty tensor's garbage)
    ("floor_divide(None, t)", lambda L: L.floor_divide(None, T(L, 3)), "got (NoneType, Tensor)"),
    ("remainder(None, t)", lambda L: L.remainder(None, T(L, 3)), "got (NoneType, Tensor)"),
    ("result_type(None, t)", lambda L: L.result_type(None, T(L, 3)), "got (NoneType, Tensor)"),
    ("result_type(t, None)", lambda L: L.result_type(T(L, 3), None), "got (Tensor, NoneType)"),
    ("where(c, t, None)", lambda L: L.where(B(L, 3), T(L, 3), None), "invalid combination"),
    ("where(c, None, t)", lambda L: L.where(B(L, 3), None, T(L, 3)), "invalid combination"),
    ("full(size, None)", lambda L: L.full((2,), None), "'fill_value' (position 2) must be Number"),
    ("clamp_min(None)", lambda L: L.clamp_min(T(L, 3), None), "got (Tensor, NoneType)"),
    ("clamp_max(None)", lambda L: L.clamp_max(T(L, 3), None), "got (Tensor, NoneType)"),
    # factories' keywords, as Python's own call errors
    ("empty size twice", lambda L: L.empty(2, 3, size=(2,)), "multiple values for argument 'size'"),
    ("zeros bad keyword", lambda L: L.zeros(2, bogus=1), "unexpected keyword argument 'bogus'"),
    ("empty bad keyword", lambda L: L.empty(2, bogus=1), "unexpected keyword argument 'bogus'"),
    ("zeros size=int", lambda L: L.zeros(size=3), "'size' must be tuple of ints, not int"),
    ("new_zeros size twice", lambda L: T(L, 3).new_zeros(1, size=(2,)), "multiple values"),
    ("new_ones bad keyword", lambda L: T(L, 3).new_ones(1, bogus=1), "unexpected keyword"),
    ("new_tensor bad keyword", lambda L: T(L, 3).new_tensor([1], bogus=1), "unexpected keyword"),
    (
        "linspace steps<0",
        lambda L: L.linspace(0.0, 1.0, -1),
        "number of steps must be non-negative",
    ),
    (
        "logspace steps<0",
        lambda L: L.logspace(0.0, 1.0, -5),
        "number of steps must be non-negative",
    ),
    ("normal tensor + size", lambda L: L.normal(T(L, 3), 1.0, size=(3,)), "invalid combination"),
    ("normal floats, no size", lambda L: L.normal(0.0, 1.0), "invalid combination of arguments"),
    ("normal std<0", lambda L: L.normal(0.0, -1.0, (2,)), "normal expects std >= 0.0"),
    # PyTorch's Python implementation touches the input first: an AttributeError there too
    ("F.softmax(None)", lambda L: F(L).softmax(None, 0), "'NoneType' object has no attribute"),
    ("F.mse_loss(None)", lambda L: F(L).mse_loss(None, T(L, 3)), "'NoneType' object has no attr"),
    # the sweep's tensor ops: linalg, shapes, indexing, counting, special, sparse
    (
        "einsum equation None",
        lambda L: L.einsum(None, (4, 3, 2)),
        "argument 'equation' (position 1) must be str, not NoneType",
    ),
    (
        "mvlgamma bool",
        lambda L: L.mvlgamma(B(L, 2, 3), 1),
        "The input tensor may not be a boolean tensor.",
    ),
    (
        "index_copy 0-d self dim 1",
        lambda L: L.index_copy(T(L), 1, I(L, 2), T(L, 2, 2, 4)),
        "(expected to be in range of [-1, 0], but got 1)",
    ),
    (
        "einsum sublist rank",
        lambda L: L.einsum(T(L, 5), (4, 3, 2)),
        "does not match the number of dimensions (1) for operand 0",
    ),
    (
        "einsum sublist range",
        lambda L: L.einsum(T(L, 2, 3, 4), (-5, -4, -3)),
        "not within the valid range [0, 52)",
    ),
    (
        "linear 0-d input",
        lambda L: L.nn.functional.linear(T(L), T(L, 3, 3)),
        "at least 1D, but they are 0D and 2D",
    ),
    (
        "linear 0-d weight",
        lambda L: L.nn.functional.linear(T(L, 3, 3), T(L)),
        "at least 1D, but they are 2D and 0D",
    ),
    (
        "linear 1-d weight",
        lambda L: L.nn.functional.linear(T(L, 3, 3), T(L, 5)),
        "size mismatch, got input (3), mat (3x3), vec (5)",
    ),
    (
        "linear 1-d weight bias",
        lambda L: L.nn.functional.linear(T(L, 3, 4), T(L, 4), T(L, 3)),
        "mat2 must be a matrix",
    ),
    (
        "solve 0-d B",
        lambda L: L.linalg.solve(T(L, 3, 3), T(L)),
        "The input tensor B must have at least 2 dimensions.",
    ),
    (
        "solve left=False 1-d B",
        lambda L: L.linalg.solve(T(L, 3, 3), T(L, 3), left=False),
        "for the equation XA = B (3x3 and 3x1)",
    ),
    (
        "bilinear 1-d weight",
        lambda L: L.nn.functional.bilinear(T(L, 4, 5), T(L, 4, 6), T(L, 5)),
        "but got 1)",
    ),
    (
        "bilinear 0-d weight",
        lambda L: L.nn.functional.bilinear(T(L, 4, 5), T(L, 4, 6), T(L)),
        "Dimension specified as 1 but tensor has no dimensions",
    ),
    (
        "bilinear input2 size",
        lambda L: L.nn.functional.bilinear(T(L, 4, 5), T(L, 4, 6), T(L, 3, 5, 7)),
        "input2 size does not match weight size: got 6 but expected 7",
    ),
    (
        "bilinear input1 size",
        lambda L: L.nn.functional.bilinear(T(L, 4, 5), T(L, 4, 6), T(L, 3, 4, 6)),
        "input1 size does not match weight size: got 5 but expected 4",
    ),
    (
        "bilinear bias size",
        lambda L: L.nn.functional.bilinear(T(L, 4, 5), T(L, 4, 6), T(L, 3, 5, 6), T(L, 4)),
        "bias size does not match weight size: got 4 but expected 3",
    ),
    (
        "baddbmm 0-d batch1",
        lambda L: L.baddbmm(T(L, 2, 3, 4), T(L), T(L, 2, 5, 4)),
        "Dimension specified as 0 but tensor has no dimensions",
    ),
    (
        "baddbmm 1-d batch2",
        lambda L: L.baddbmm(T(L, 2, 3, 4), T(L, 2, 3, 5), T(L, 5)),
        "but got 2)",
    ),
    (
        "bmm bool self",
        lambda L: L.bmm(B(L, 2, 5, 3), T(L, 2, 3, 4)),
        "\"bmm\" not implemented for 'Bool'",
    ),
    (
        "broadcast_shapes negative",
        lambda L: L.broadcast_shapes((-3, -4)),
        "Attempting to broadcast a dimension with negative length!",
    ),
    (
        "broadcast_shapes mismatch",
        lambda L: L.broadcast_shapes((2,), (3,)),
        "Attempting to broadcast a dimension of length 3 at -1!",
    ),
    (
        "broadcast_shapes float",
        lambda L: L.broadcast_shapes((2,), 2.0),
        "Input shapes should be of type ints",
    ),
    ("rot90 0-d", lambda L: L.rot90(T(L)), "expected total dims >= 2, but got total dims = 0"),
    ("rot90 1-d", lambda L: L.rot90(T(L, 5)), "expected total dims >= 2, but got total dims = 1"),
    (
        "repeat_interleave output_size int",
        lambda L: L.repeat_interleave(T(L, 2, 3, 4), 1, output_size=-1),
        "Invalid output_size, expected 24 but got -1",
    ),
    (
        "repeat_interleave output_size tensor",
        lambda L: L.repeat_interleave(T(L, 2, 3), L.tensor([1, 2, 3]), dim=1, output_size=5),
        "allocated size does not match required size",
    ),
    (
        "masked_fill 1-d input",
        lambda L: L.masked_fill(T(L, 5), B(L, 2, 3, 4), 0.0),
        "The size of tensor a (4) must match the size of tensor b (5) at non-singleton dimension 2",
    ),
    (
        "masked_fill mask mismatch",
        lambda L: L.masked_fill(T(L, 2, 3, 4), B(L, 5, 3, 4), 0.0),
        "The size of tensor a (5) must match the size of tensor b (2)",
    ),
    (
        "masked_fill_ 0-d self big mask",
        lambda L: T(L).masked_fill_(B(L, 2, 3, 4), 0.0),
        "output with shape [] doesn't match the broadcast shape [2, 3, 4]",
    ),
    (
        "masked_fill_ mask mismatch",
        lambda L: T(L, 2, 3, 4).masked_fill_(B(L, 2, 3, 6), 0.0),
        "must match the size of tensor b",
    ),
    (
        "scatter 1-d src",
        lambda L: L.scatter(T(L, 2, 3, 4), 1, I(L, 2, 3, 4), T(L, 5)),
        "(expected to be in range of [-1, 0], but got 1)",
    ),
    (
        "scatter_add 2-d src",
        lambda L: L.scatter_add(T(L, 2, 3, 4), 1, I(L, 2, 3, 4), T(L, 5, 6)),
        "(expected to be in range of [-2, 1], but got 2)",
    ),
    (
        "scatter src None",
        lambda L: L.scatter(T(L, 2, 3, 4), 1, I(L, 2, 3, 4), None),
        "received an invalid combination of arguments",
    ),
    (
        "scatter_ src None",
        lambda L: T(L, 2, 3, 4).scatter_(1, I(L, 2, 3, 4), None),
        "received an invalid combination of arguments",
    ),
    (
        "scatter_add float src",
        lambda L: L.scatter_add(T(L, 2, 3, 4), 1, I(L, 2, 3, 4), 1.0),
        "scatter_add(): argument 'src' (position 4) must be Tensor, not float",
    ),
    (
        "index_add 0-d self dim 1",
        lambda L: L.index_add(T(L), 1, I(L, 2), T(L, 2, 2, 4)),
        "(expected to be in range of [-1, 0], but got 1)",
    ),
    (
        "index_copy slice shapes first",
        lambda L: L.index_copy(T(L, 2, 3, 4), -1, I(L, 2), T(L, 2, 2, 4)),
        "Destination slice shape: 2 3 at dimension 2 and source slice shape: 2 2 at dimension 0.",
    ),
    (
        "isin bool elements",
        lambda L: L.isin(B(L, 2, 3), T(L, 2, 3)),
        "Unsupported input type encountered for isin(): Bool",
    ),
    (
        "isin bool test_elements",
        lambda L: L.isin(T(L, 2, 3), B(L, 2, 3)),
        "Unsupported input type encountered for isin(): Bool",
    ),
    (
        "isin None elements",
        lambda L: L.isin(None, T(L, 2, 3)),
        "isin() received an invalid combination of arguments - got (NoneType, Tensor)",
    ),
    (
        "isin None test_elements",
        lambda L: L.isin(T(L, 2, 3), None),
        "isin() received an invalid combination of arguments - got (Tensor, NoneType)",
    ),
    (
        "searchsorted 0-d boundaries",
        lambda L: L.searchsorted(T(L), T(L, 2, 3)),
        "boundaries tensor should have positive dimension, but got 0 dimension",
    ),
    (
        "searchsorted values None",
        lambda L: L.searchsorted(T(L, 4), None),
        "searchsorted() received an invalid combination of arguments",
    ),
    ("count_nonzero None", lambda L: L.count_nonzero(None), "must be Tensor, not NoneType"),
    ("bincount float", lambda L: L.bincount(T(L, 5)), "not implemented for 'Float'"),
]

# PyTorch returns a value; gpugrad must return the same shape and dtype (NumPy raised)
RETURNS = [
    # Tensor.tile's forms: ints, one sequence, dims=, NumPy ints and 0-d tensors as sizes
    ("Tensor.tile int", lambda L: T(L, 2, 3).tile(2)),
    ("Tensor.tile ints", lambda L: T(L, 2, 3).tile(2, 2)),
    ("Tensor.tile dims=", lambda L: T(L, 2, 3).tile(dims=(2,))),
    ("Tensor.tile numpy int", lambda L: T(L, 2, 3).tile((np.int64(2), 1))),
    ("tile 0-d tensor size", lambda L: L.tile(T(L, 2, 3), (L.tensor(2), 1))),
    ("sign bool", lambda L: L.sign(B(L, 3))),
    ("sgn bool", lambda L: L.sgn(B(L, 2, 2))),
    ("poisson 0-d", lambda L: L.poisson(T(L))),
    ("erf int", lambda L: L.erf(I(L, 3, hi=3))),
    ("special.erf bool", lambda L: L.special.erf(B(L, 3))),
    # its kernel promotes before it subtracts (l1_loss's refuses the bool)
    ("smooth_l1_loss bool input", lambda L: F(L).smooth_l1_loss(B(L, 3), T(L, 3))),
    # integers stay integers, the bounds cast (truncated) first (gpugrad gave float32)
    ("hardtanh int", lambda L: F(L).hardtanh(I(L, 5, hi=4) - 2, -1.5, 1.5)),
    ("relu6 int", lambda L: F(L).relu6(I(L, 5, hi=9))),
    ("threshold int", lambda L: F(L).threshold(I(L, 5, hi=4), 1.5, -2.7)),
    # integers pool, convolve and round in their dtype; bool unfolds (PyTorch's kernels)
    ("max_pool2d int", lambda L: F(L).max_pool2d(I(L, 1, 2, 4, 4, hi=5), 2)),
    ("max_pool1d int indices", lambda L: F(L).max_pool1d(I(L, 2, 4), 2, return_indices=True)),
    ("avg_pool2d int", lambda L: F(L).avg_pool2d(I(L, 1, 2, 4, 4, hi=5), 2)),
    ("conv2d int dilated", lambda L: F(L).conv2d(I(L, 1, 2, 4, 4), I(L, 3, 2, 2, 2), dilation=2)),
    ("unfold bool", lambda L: F(L).unfold(B(L, 1, 2, 4, 4), 2)),
    ("fold bool", lambda L: F(L).fold(B(L, 1, 8, 9), 4, 2)),
    ("round int", lambda L: L.round(I(L, 3, hi=5))),
    ("~bool", lambda L: ~B(L, 3)),
    # a 0-d weight counts as a number; integer products stay integer
    ("lerp 0-d double weight", lambda L: L.lerp(T(L, 3), T(L, 3), T(L).double())),
    ("addmm int", lambda L: L.addmm(I(L, 2, 2), I(L, 2, 2), I(L, 2, 2))),
    ("baddbmm int", lambda L: L.baddbmm(I(L, 2, 2, 2), I(L, 2, 2, 2), I(L, 2, 2, 2))),
    ("relu int", lambda L: F(L).relu(I(L, 5, hi=4) - 2)),
    ("argmax int", lambda L: L.argmax(I(L, 5, hi=4))),
    ("topk int", lambda L: L.topk(I(L, 5, hi=4), 2)),
    ("addmm 1-d input", lambda L: L.addmm(T(L, 2), T(L, 2, 2), T(L, 2, 2))),
    # PyTorch's shape for the hits of a 0-d tensor: [n, 0] (NumPy's view of it as 1-d: [n, 1])
    ("nonzero 0-d", lambda L: L.nonzero(T(L))),
    ("nonzero 0-d zero", lambda L: L.nonzero(T(L) * 0)),
    ("pad crop to empty", lambda L: F(L).pad(T(L, 2, 3), (-3, 0))),
    ("index_copy 0-d source", lambda L: T(L, 3).index_copy(0, I(L, 1), T(L))),
    # factories' size= keyword and the layout keywords
    ("zeros(size=)", lambda L: L.zeros(size=(2, 3))),
    ("ones(size=[])", lambda L: L.ones(size=[2])),
    ("rand(size=)", lambda L: L.rand(size=(2,))),
    ("empty keywords", lambda L: L.empty(2, layout=L.strided, pin_memory=False)),
    ("empty memory_format", lambda L: L.empty(2, 3, memory_format=L.contiguous_format)),
    ("new_zeros(size=)", lambda L: T(L, 3).new_zeros(size=(2, 4))),
    ("new_zeros varargs", lambda L: T(L, 3).new_zeros(2, 4)),
    ("new_full layout", lambda L: T(L, 3).new_full((2,), 1.0, layout=L.strided)),
    ("normal broadcast", lambda L: L.normal(T(L, 3, 1), T(L, 1, 4))),
    ("normal tensor mean", lambda L: L.normal(T(L, 3).double(), 2.0)),
    (
        "contiguous channels_last",
        lambda L: T(L, 2, 3, 4, 5).contiguous(memory_format=L.channels_last),
    ),
    # the sweep's tensor ops: linalg, shapes, indexing, counting, special, sparse
    ("to_sparse 0-d", lambda L: T(L).to_sparse().to_dense()),
    ("to_sparse_coo 0-d", lambda L: T(L).to_sparse_coo().to_dense()),
    ("einsum sublist permute", lambda L: L.einsum(T(L, 2, 3, 4), (4, 3, 2))),
    ("einsum sublist matmul", lambda L: L.einsum(T(L, 2, 3), [0, 1], T(L, 3, 4), [1, 2], [0, 2])),
    ("masked_fill 0-d input broadcasts", lambda L: L.masked_fill(T(L), B(L, 2, 3, 4), 0.0)),
    ("masked_fill (3,1) input broadcasts", lambda L: L.masked_fill(T(L, 3, 1), B(L, 3, 4), 0.0)),
    ("mvlgamma negative values", lambda L: L.mvlgamma(T(L, 2, 3, lo=-3, hi=-1), 1)),
    ("mvlgamma int", lambda L: L.mvlgamma(I(L, 2, 3, hi=3), 1)),
    ("multigammaln p=5 small values", lambda L: L.special.multigammaln(T(L, 2, 3), 5)),
    ("binomial negative count", lambda L: L.binomial(T(L, 2, 3, lo=-3, hi=-1), T(L, 2, 3))),
    (
        "binomial prob outside [0, 1]",
        lambda L: L.binomial(T(L, 2, 3, lo=1, hi=4), T(L, 2, 3, lo=-1, hi=2)),
    ),
    (
        "repeat_interleave output_size",
        lambda L: L.repeat_interleave(T(L, 2, 3, 4), 2, dim=1, output_size=6),
    ),
    (
        "repeat_interleave repeats only",
        lambda L: L.repeat_interleave(L.tensor([1, 2, 3]), output_size=6),
    ),
    ("linear 1-d weight", lambda L: L.nn.functional.linear(T(L, 2, 3, 4), T(L, 4))),
]

# in-place calls that fail: (id, the tensor, the call); the tensor must be unchanged
INPLACE = [
    ("copy_ shapes", lambda L: T(L, 2, 4), lambda x, L: x.copy_(T(L, 5))),
    ("sub_ bool", lambda L: T(L, 3), lambda x, L: x.sub_(B(L, 3))),
    ("bool.sub_(True)", lambda L: B(L, 3), lambda x, L: x.sub_(True)),
    ("tril_ 1-d", lambda L: T(L, 5), lambda x, L: x.tril_()),
    ("add_(None)", lambda L: T(L, 3), lambda x, L: x.add_(None)),
    ("add_ alpha=None", lambda L: T(L, 3), lambda x, L: x.add_(T(L, 3), alpha=None)),
    ("fill_(None)", lambda L: T(L, 3), lambda x, L: x.fill_(None)),
    ("clamp_min_(None)", lambda L: T(L, 3), lambda x, L: x.clamp_min_(None)),
    ("elu_ int", lambda L: I(L, 3, hi=3), lambda x, L: F(L).elu_(x)),
    ("relu_ bool", lambda L: B(L, 3), lambda x, L: x.relu_()),
    ("silu inplace int", lambda L: I(L, 3, hi=3), lambda x, L: F(L).silu(x, inplace=True)),
    ("mish inplace int", lambda L: I(L, 3, hi=3), lambda x, L: F(L).mish(x, inplace=True)),
    ("index_add_ source None", lambda L: T(L, 3, 2), lambda x, L: x.index_add_(0, I(L, 2), None)),
    (
        "index_copy_ source rank",
        lambda L: T(L, 2, 3, 4),
        lambda x, L: x.index_copy_(1, I(L, 2), T(L, 5)),
    ),
    (
        "index_add_ source rank",
        lambda L: T(L, 2, 3),
        lambda x, L: x.index_add_(1, I(L, 2), T(L, 5)),
    ),
    # the sweep's tensor ops: linalg, shapes, indexing, counting, special, sparse
    (
        "masked_fill_ mismatch",
        lambda L: T(L, 2, 3, 4),
        lambda x, L: x.masked_fill_(B(L, 5, 3, 4), 0.0),
    ),
    (
        "scatter_ 1-d src",
        lambda L: T(L, 2, 3, 4),
        lambda x, L: x.scatter_(1, I(L, 2, 3, 4), T(L, 5)),
    ),
]


# nn.functional: pools, norms, losses, conv bool inputs, cosine_similarity, embedding,
# interpolate, sdpa, unfold
RAISES += [
    # pools: PyTorch's rank checks and texts
    (
        "F.adaptive_avg_pool1d 0-d",
        lambda L: F(L).adaptive_avg_pool1d(T(L), 1),
        "Expected 2 to 3 dimensions, but got 0-dimensional tensor for argument #1 'self'",
    ),
    (
        "F.adaptive_avg_pool1d int",
        lambda L: F(L).adaptive_avg_pool1d(I(L, 2, 3, 4), 1),
        "mean(): could not infer output dtype",
    ),
    (
        "F.adaptive_avg_pool2d bool 1x1",
        lambda L: F(L).adaptive_avg_pool2d(B(L, 2, 3, 4), 1),
        "mean(): could not infer output dtype",
    ),
    (
        "F.adaptive_avg_pool2d 1-d 1x1",
        lambda L: F(L).adaptive_avg_pool2d(T(L, 5), 1),
        "Dimension out of range (expected to be in range of [-1, 0], but got -2)",
    ),
    (
        "F.adaptive_max_pool1d 0-d",
        lambda L: F(L).adaptive_max_pool1d(T(L), 1),
        "Expected 2 to 3 dimensions, but got 0-dimensional tensor",
    ),
    (
        "F.adaptive_max_pool2d empty channels",
        lambda L: F(L).adaptive_max_pool2d(T(L, 3, 0, 4), 2),
        "Expected input to have non-zero size for non-batch dimensions",
    ),
    (
        "F.avg_pool1d 0-d",
        lambda L: F(L).avg_pool1d(T(L), 1),
        "Expected 2 to 3 dimensions, but got 0-dimensional tensor",
    ),
    (
        "F.avg_pool2d 0-d",
        lambda L: F(L).avg_pool2d(T(L), 1),
        "Dimension specified as -3 but tensor has no dimensions",
    ),
    (
        "F.avg_pool2d 1-d",
        lambda L: F(L).avg_pool2d(T(L, 5), 1),
        "Dimension out of range (expected to be in range of [-1, 0], but got -3)",
    ),
    (
        "F.avg_pool2d empty 3-d",
        lambda L: F(L).avg_pool2d(T(L, 0, 3, 4), 1),
        "with optional 0 dim batch size for input, but got:[0, 3, 4]",
    ),
    (
        "F.max_pool1d 0-d",
        lambda L: F(L).max_pool1d(T(L), 1),
        "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size",
    ),
    # batch / instance / layer norm
    (
        "F.batch_norm 1-d",
        lambda L: F(L).batch_norm(T(L, 5), T(L, 3), T(L, 3)),
        "running_mean should contain 0 elements not 3",
    ),
    (
        "F.batch_norm float64 input",
        lambda L: F(L).batch_norm(T(L, 2, 3, 4, dtype="float64"), T(L, 3), T(L, 3)),
        "mixed dtype (CPU): all inputs must share same datatype.",
    ),
    (
        "F.batch_norm int running_mean",
        lambda L: F(L).batch_norm(T(L, 2, 3, 4), I(L, 3), T(L, 3)),
        "mixed dtype (CPU): expect parameter to have scalar type of Float",
    ),
    (
        "F.batch_norm bool running_var",
        lambda L: F(L).batch_norm(T(L, 2, 3, 4), T(L, 3), B(L, 3)),
        "expected scalar type Float but found Bool",
    ),
    (
        "F.batch_norm eps<0",
        lambda L: F(L).batch_norm(T(L, 2, 3, 4), T(L, 3), T(L, 3), eps=-1.0),
        "batch_norm eps must be non-negative, but got -1.0",
    ),
    (
        "F.batch_norm training eps=0",
        lambda L: F(L).batch_norm(T(L, 2, 3, 4), None, None, training=True, eps=0.0),
        "batch_norm eps must be positive during training, but got 0.0",
    ),
    (
        "F.instance_norm 1-d",
        lambda L: F(L).instance_norm(T(L, 5)),
        "Expected more than 1 spatial element when training",
    ),
    (
        "F.layer_norm weight shape",
        lambda L: F(L).layer_norm(T(L, 2, 3, 4), (4,), weight=T(L, 7)),
        "Expected weight to be of same shape as normalized_shape, but got weight of shape [7] and "
        "normalized_shape = [4]",
    ),
    # binary_cross_entropy_with_logits works in place on 1 - target
    (
        "F.bce_with_logits bool target",
        lambda L: F(L).binary_cross_entropy_with_logits(T(L, 2, 3, 4), B(L, 2, 3, 4)),
        "Subtraction, the `-` operator, with two bool tensors is not supported",
    ),
    (
        "F.bce_with_logits int target",
        lambda L: F(L).binary_cross_entropy_with_logits(T(L, 2, 3, 4), I(L, 2, 3, 4)),
        "result type Float can't be cast to the desired output type Long",
    ),
    (
        "F.bce_with_logits weight shape",
        lambda L: F(L).binary_cross_entropy_with_logits(T(L, 2, 3, 4), T(L, 2, 3, 4), T(L, 7)),
        "The size of tensor a (4) must match the size of tensor b (7) at non-singleton dimension 2",
    ),
    # a bool input: the kernel refuses it before the dtypes are compared
    (
        "F.conv1d bool input",
        lambda L: F(L).conv1d(B(L, 2, 3, 4), T(L, 2, 3, 4)),
        "not implemented for 'Bool'",
    ),
    (
        "F.conv3d bool input",
        lambda L: F(L).conv3d(B(L, 1, 2, 4, 4, 4), T(L, 2, 2, 3, 3, 3)),
        "not implemented for 'Bool'",
    ),
    (
        "F.conv_transpose2d bool input",
        lambda L: F(L).conv_transpose2d(B(L, 2, 3, 8, 8), T(L, 3, 4, 3, 3)),
        "not implemented for 'Bool'",
    ),
    # cross_entropy / nll_loss: nll_loss_nd's shape checks before the dtypes
    (
        "F.cross_entropy 0-d input",
        lambda L: F(L).cross_entropy(T(L), T(L, 2, 3, 4)),
        "Dimension out of range (expected to be in range of [-1, 0], but got 1)",
    ),
    (
        "F.cross_entropy float target batch",
        lambda L: F(L).cross_entropy(T(L, 2, 3, 4), T(L, 5)),
        "Expected input batch_size (2) to match target batch_size (5).",
    ),
    (
        "F.cross_entropy 0-d float target",
        lambda L: F(L).cross_entropy(T(L, 2, 3, 4), T(L)),
        "Expected input batch_size (2) to match target batch_size (0).",
    ),
    (
        "F.cross_entropy int32 target batch",
        lambda L: F(L).cross_entropy(T(L, 2, 3, 4), T(L, 5, dtype="int32", lo=0, hi=2)),
        "Expected input batch_size (2) to match target batch_size (5).",
    ),
    (
        "F.nll_loss 0-d",
        lambda L: F(L).nll_loss(T(L), I(L, 4)),
        "Expected 1 or more dimensions (got 0)",
    ),
    (
        "F.nll_loss 1-d target size",
        lambda L: F(L).nll_loss(T(L, 5), I(L, 4)),
        "For 1D input, 1D target must have size 1, but got target size: 4",
    ),
    (
        "F.nll_loss 0-d target",
        lambda L: F(L).nll_loss(T(L, 4, 5), I(L)),
        "Expected input batch_size (4) to match target batch_size (0).",
    ),
    (
        "F.nll_loss spatial target",
        lambda L: F(L).nll_loss(T(L, 4, 5, 2), I(L, 4, 3)),
        "Expected target size [4, 2], got [4, 3]",
    ),
    (
        "F.nll_loss 2-d target",
        lambda L: F(L).nll_loss(T(L, 4, 5), I(L, 4, 2)),
        "0D or 1D target tensor expected, multi-target not supported",
    ),
    (
        "F.nll_loss float target",
        lambda L: F(L).nll_loss(T(L, 4, 5), T(L, 4)),
        "expected target dtype to be Long or Byte, but got Float",
    ),
    # embedding / interpolate / sdpa / unfold ranks
    (
        "F.embedding 1-d weight",
        lambda L: F(L).embedding(I(L, 2, 3), T(L, 5)),
        "'weight' must be 2-D",
    ),
    (
        "F.embedding empty weight",
        lambda L: F(L).embedding(I(L, 2, 3), T(L, 0, 4)),
        "index_select(): self indexing axis dim should be positive",
    ),
    (
        "F.interpolate 1-d",
        lambda L: F(L).interpolate(T(L, 5), 1),
        "Input Error: Only 3D, 4D and 5D input Tensors supported (got 1D)",
    ),
    (
        "F.sdpa 0-d query",
        lambda L: F(L).scaled_dot_product_attention(T(L), T(L, 2, 3, 4), T(L, 2, 3, 4)),
        "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: 0",
    ),
    (
        "F.sdpa dtypes",
        lambda L: F(L).scaled_dot_product_attention(
            T(L, 2, 3, 4), T(L, 2, 3, 4, dtype="float64"), T(L, 2, 3, 4)
        ),
        "Expected query, key, and value to have the same dtype, but got query.dtype: float key."
        "dtype: double",
    ),
    (
        "F.unfold 0-d",
        lambda L: F(L).unfold(T(L), 1),
        "Dimension specified as 1 but tensor has no dimensions",
    ),
    (
        "F.unfold empty 3-d",
        lambda L: F(L).unfold(T(L, 0, 3, 4), 1),
        "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero "
        "dimensions for input, but got: [0, 3, 4]",
    ),
    (
        "F.unfold kernel too big",
        lambda L: F(L).unfold(T(L, 2, 3, 4), 5),
        "calculated shape of the array of sliding blocks as (-1, 0), but its components must be "
        "at least one.",
    ),
]

RETURNS += [
    ("F.avg_pool1d empty batch", lambda L: F(L).avg_pool1d(T(L, 0, 3, 4), 1)),
    ("F.max_pool1d empty batch", lambda L: F(L).max_pool1d(T(L, 0, 3, 4), 1)),
    (
        "F.max_pool2d empty batch indices",
        lambda L: F(L).max_pool2d(T(L, 0, 2, 3, 4), 2, return_indices=True),
    ),
    ("F.adaptive_avg_pool2d 2-d 1x1", lambda L: F(L).adaptive_avg_pool2d(T(L, 5, 2), 1)),
    # the loss has the target's dtype
    (
        "F.bce_with_logits float64 input",
        lambda L: F(L).binary_cross_entropy_with_logits(
            T(L, 2, 3, 4, dtype="float64"), T(L, 2, 3, 4)
        ),
    ),
    (
        "F.bce_with_logits float64 target",
        lambda L: F(L).binary_cross_entropy_with_logits(
            T(L, 2, 3, 4), T(L, 2, 3, 4, dtype="float64")
        ),
    ),
    ("F.cosine_similarity 0-d x1", lambda L: F(L).cosine_similarity(T(L), T(L, 2, 3, 4))),
    ("F.cosine_similarity 0-d x2", lambda L: F(L).cosine_similarity(T(L, 2, 3, 4), T(L))),
    ("F.cosine_similarity 1-d x1", lambda L: F(L).cosine_similarity(T(L, 4), T(L, 2, 3, 4))),
    # a negative label_smoothing means none (PyTorch checks the range where it smooths)
    (
        "F.cross_entropy prob target smoothing<0",
        lambda L: F(L).cross_entropy(T(L, 2, 3, 4), T(L, 2, 3, 4), label_smoothing=-0.5),
    ),
    (
        "F.cross_entropy class target smoothing<0",
        lambda L: F(L).cross_entropy(T(L, 2, 3, 4), I(L, 2, 4), label_smoothing=-0.5),
    ),
    (
        "F.sdpa empty value",
        lambda L: F(L).scaled_dot_product_attention(T(L, 2, 3, 4), T(L, 2, 3, 4), T(L, 0, 3, 4)),
    ),
]


def _outcome(L, call):
    try:
        return call(L), None
    except Exception as e:  # noqa: BLE001 - the exception is what is compared
        return None, e


def _builtin(exc: BaseException) -> type:
    """The first builtin class of an exception (torch's _LinAlgError is a RuntimeError)."""
    return next(c for c in type(exc).__mro__ if c.__module__ == "builtins")


def _innermost(exc: BaseException) -> str:
    tb = exc.__traceback__
    name = ""
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return name


def _summary(v):
    if isinstance(v, (tuple, list)):
        return [_summary(x) for x in v]
    return (tuple(v.shape), str(v.dtype).split(".")[-1])


@pytest.mark.parametrize("call,key", [c[1:] for c in RAISES], ids=[c[0] for c in RAISES])
def test_raises_as_torch(call, key):
    _, want = _outcome(torch, call)
    assert want is not None, "the table says PyTorch raises here"
    got_value, got = _outcome(gpugrad, call)
    assert got is not None, f"gpugrad returned {got_value!r} where PyTorch raises {want!r}"
    assert _builtin(got) is _builtin(want), f"gpugrad: {got!r}; torch: {want!r}"
    assert not any(f in _innermost(got) for f in _FOREIGN), f"raised inside NumPy: {got!r}"
    if key is not None:
        assert key in str(want), f"the table's text is not PyTorch's: {want}"
        assert key in str(got), f"gpugrad: {got}; torch: {want}"


@pytest.mark.parametrize("call", [c[1] for c in RETURNS], ids=[c[0] for c in RETURNS])
def test_returns_as_torch(call):
    want, exc = _outcome(torch, call)
    assert exc is None, f"the table says PyTorch returns here: {exc!r}"
    got, exc = _outcome(gpugrad, call)
    assert exc is None, f"gpugrad raised {exc!r} where PyTorch returns a value"
    assert _summary(got) == _summary(want)


@pytest.mark.parametrize("make,call", [c[1:] for c in INPLACE], ids=[c[0] for c in INPLACE])
def test_failed_inplace_changes_nothing(make, call):
    for L in (torch, gpugrad):
        x = make(L)
        before = x.clone()
        _, exc = _outcome(L, lambda L, x=x: call(x, L))
        assert exc is not None, f"{L.__name__}: the call should fail"
        assert x.shape == before.shape and bool((x == before).all()), L.__name__
        assert x.dtype == before.dtype


def _op(input: gpugrad.Tensor, weight: gpugrad.Tensor | None = None):
    """A stand-in op with a bug: it reads an attribute its arguments do not have."""
    return (input if weight is None else weight).no_such_attribute


def test_a_real_attribute_error_goes_on():
    """The faces' wrapper turns an AttributeError into PyTorch's TypeError only where the
    object lacking the attribute is the value of a Tensor parameter; a bug stays a bug."""
    from gpugrad.backend.quiet import checked, quiet

    for wrap in (quiet, checked):
        op = wrap(_op)
        with pytest.raises(AttributeError, match="no_such_attribute"):
            op(gpugrad.ones(2))  # the Tensor lacks it: not an argument error
        with pytest.raises(AttributeError, match="no_such_attribute"):
            op(gpugrad.ones(2), weight=gpugrad.ones(2))
        with pytest.raises(TypeError, match=r"_op\(\): argument 'input' \(position 1\) must be"):
            op(None)
        with pytest.raises(TypeError, match="not list") as info:
            op([1.0])
        assert isinstance(info.value.__cause__, AttributeError)  # the original, as the cause


def test_a_none_in_a_number_slot_is_named_and_other_type_errors_go_on():
    """A TypeError leaving an op becomes PyTorch's "must be Number, not NoneType" only where
    a None sits in a parameter that does not take one; any other TypeError is unchanged."""
    from gpugrad.backend.quiet import quiet

    def scaled(input: gpugrad.Tensor, alpha: float = 1.0, *, bias=0.5):
        return input * alpha + bias

    def broken(input: gpugrad.Tensor, alpha: float = 1.0):
        return None + alpha  # a bug: no argument is None

    op = quiet(scaled)
    with pytest.raises(
        TypeError, match=r"^scaled\(\): argument 'alpha' \(position 2\) must be Number"
    ):
        op(gpugrad.ones(2), None)
    with pytest.raises(
        TypeError, match=r"^scaled\(\): argument 'bias' must be Number, not NoneType"
    ):
        op(gpugrad.ones(2), bias=None)
    with pytest.raises(TypeError, match="unsupported operand") as info:
        quiet(broken)(gpugrad.ones(2))
    assert info.value.__cause__ is None
    out = gpugrad.zeros(3)
    assert gpugrad.zeros(3, out=out) is out
    assert gpugrad.ones(2, out=out) is out and out.shape == (2,)  # resized, as PyTorch
