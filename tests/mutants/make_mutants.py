"""The mutants of the exercise modules: the reference with one deliberate bug each.

A mutant ``chNN_<mistake>.py`` is ``course_lib/exercises/chNN.py`` with one line
of one solution replaced by a plausible student mistake (marked ``# BUG``).
Only the mistakes are kept here; the grader's tests
(``tests/grading/test_grading_mutants.py``) generate the modules from the
current reference with :func:`write_mutants` and check that each scores
strictly between 0 and 100 % of its chapter. To look at them::

    python tests/mutants/make_mutants.py OUT_DIR

A mistake whose original line no longer exists in the reference is an error
naming the entry: update it after editing a solution.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXERCISES = HERE.parents[1] / "course_lib" / "exercises"

# file name (its chapter, "_", a name) -> (the mistake, the reference line(s), the mutated line(s))
MUTANTS: dict[str, tuple[str, str, str]] = {
    "ch01_conv_no_flip.py": (
        "convolve2d forgets to flip the kernel: it computes a cross-correlation.",
        "    flipped = kernel[::-1, ::-1].astype(dtype)\n",
        "    flipped = kernel.astype(dtype)  # BUG: the kernel is not flipped\n",
    ),
    "ch01_same_off_by_one.py": (
        "convolve2d's 'same' mode starts at K // 2 instead of (K - 1) // 2 (even kernels).",
        "        top, left = (kh - 1) // 2, (kw - 1) // 2\n",
        "        top, left = kh // 2, kw // 2  # BUG: off by one for even kernel sizes\n",
    ),
    "ch01_receptive_field_jump_first.py": (
        "receptive_field updates the jump before the layer uses it.",
        "        r += d * (k - 1) * j\n        j *= s\n",
        "        j *= s  # BUG: the jump is updated before this layer uses it\n"
        "        r += d * (k - 1) * j\n",
    ),
    "ch01_sobel_l1.py": (
        "sobel_magnitude returns |gx| + |gy| instead of sqrt(gx**2 + gy**2).",
        "    return np.sqrt(gx**2 + gy**2)\n",
        "    return np.abs(gx) + np.abs(gy)  # BUG: the L1 norm, not the Euclidean magnitude\n",
    ),
    "ch01_input_grad_no_rotation.py": (
        "conv2d_input_grad swaps the channel axes but does not rotate the kernel by 180 degrees.",
        "    w_t = w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]  # (C, F, KH, KW)\n",
        "    w_t = w.transpose(1, 0, 2, 3)  # BUG: not rotated by 180 degrees\n",
    ),
    "ch01_avgpool_stride_one.py": (
        "avgpool2d_as_conv defaults to stride 1 (overlapping windows), not the kernel size.",
        "    stride = (kh, kw) if stride is None else stride\n",
        "    stride = 1 if stride is None else stride  # BUG: the default is kernel_size\n",
    ),
    "ch02_jacobian_transposed.py": (
        "jacobian_by_vjp stacks the rows u^T J as columns: it returns J^T, shape (n, m).",
        "    return torch.stack(rows)  # (m, n)\n",
        "    return torch.stack(rows, dim=1)  # BUG: the rows of J stacked as columns\n",
    ),
    "ch02_sigmoid_grad_assigned.py": (
        "value_sigmoid's backward assigns v.grad instead of adding to it (a reused node loses "
        "its other contributions).",
        "        v.grad += s * (1.0 - s) * out.grad  # eq-ch02-sigmoid-grad: sigma (1 - sigma)\n",
        "        v.grad = s * (1.0 - s) * out.grad  # BUG: assigned, not accumulated\n",
    ),
    "ch02_sigmoid_overflow.py": (
        "value_sigmoid uses 1 / (1 + exp(-x)) for every x: math.exp overflows for x < -709.",
        "    if x >= 0:\n",
        "    if True:  # BUG: exp(-x) overflows for very negative x\n",
    ),
    "ch02_linear_db_mean.py": (
        "linear_backward averages dout over the batch for db instead of summing it.",
        "    db = dout.sum(axis=0)  # (M,): b is added to every row\n",
        "    db = dout.mean(axis=0)  # BUG: the bias gradient is a sum over the batch\n",
    ),
    "ch02_gradcheck_one_h.py": (
        "gradient_check divides the central difference by h instead of 2h.",
        "            num[idx] = (plus - minus) / (2 * h)  # eq-ch02-central-difference\n",
        "            num[idx] = (plus - minus) / h  # BUG: the two points are 2h apart\n",
    ),
    "ch02_fit_no_mean.py": (
        "fit_linear_mse drops the 1/(N*M) of the mean from dL/dy_pred (as seed 000 does).",
        "        g = 2.0 * residual / residual.size  # (N, M)\n",
        "        g = 2.0 * residual  # BUG: the mean's 1/(N*M) is missing\n",
    ),
    "ch03_mish_no_inner_derivative.py": (
        "mish_forward_backward stops the chain rule at tanh: the factor softplus' = sigmoid "
        "is missing.",
        "    grad = t + x * (1 - t * t) * sig  # product rule, then chain rule through tanh and "
        "softplus\n",
        "    grad = t + x * (1 - t * t)  # BUG: the inner derivative sigmoid(x) is missing\n",
    ),
    "ch03_logsigmoid_naive.py": (
        "log_sigmoid uses log(1 / (1 + exp(-x))): exp overflows for x < -709 and gives -inf.",
        "    out = np.minimum(x, 0) - np.log1p(e)  # x >= 0: -log(1 + e^-x); x < 0: x - log(1 + "
        "e^x)\n",
        "    out = np.log(1 / (1 + np.exp(-x)))  # BUG: the naive form overflows\n",
    ),
    "ch03_gain_no_sqrt.py": (
        "activation_gain returns 1 / E[f(z)^2], the variance factor, instead of its square root.",
        "    return float(1 / np.sqrt(second_moment))\n",
        "    return float(1 / second_moment)  # BUG: a variance, not a gain (standard deviation)\n",
    ),
    "ch03_dead_any.py": (
        "dead_relu_counts counts units inactive on *some* example instead of on every example.",
        "            dead = np.all(h <= 0, axis=0)  # (units...): never positive on this batch\n",
        "            dead = np.any(h <= 0, axis=0)  # BUG: inactive once is not dead\n",
    ),
    "ch05_table_pad_once.py": (
        "layer_table adds the padding on one side only: (S + p - K) // s + 1.",
        "            h_out = (h + 2 * p - k) // s + 1  # eq-ch05-conv-size\n",
        "            h_out = (h + p - k) // s + 1  # BUG: padding on one side only\n",
    ),
    "ch05_weights_unnormalised.py": (
        "balanced_class_weights returns 1 / n_k, without the factor N / K'.",
        "    weights[present] = len(labels) / (present.sum() * counts[present])  "
        "# eq-ch05-class-weights\n",
        "    weights[present] = 1.0 / counts[present]  # BUG: not normalised to N / K'\n",
    ),
    "ch05_shift_swapped_draw.py": (
        "random_shift takes the first draw as the column shift and the second as the row shift.",
        "        dy, dx = rng.integers(-max_shift, max_shift + 1, size=2)\n",
        "        dx, dy = rng.integers(-max_shift, max_shift + 1, size=2)  # BUG: swapped\n",
    ),
    "ch05_f1_weighted.py": (
        "macro_f1 averages the per-class F1 weighted by support (the 'weighted' average).",
        "    return float(f1.mean())  # eq-ch05-f1, averaged over classes\n",
        "    return float((f1 * actual).sum() / actual.sum())  # BUG: weighted, not macro\n",
    ),
    "ch04_weights_not_inverted.py": (
        "inverse_frequency_weights returns the class frequencies n_k / N, not their inverse.",
        "    weights[present] = labels.size / (num_classes * counts[present])"
        "  # eq-ch04-class-weights\n",
        "    weights[present] = counts[present] / labels.size  # BUG: frequency, not inverse\n",
    ),
    "ch04_focal_alpha_swapped.py": (
        "binary_focal_loss gives alpha to the negatives and 1 - alpha to the positives.",
        "    alpha_t = np.ones_like(z) if alpha is None else np.where(y == 1, alpha, 1 - alpha)\n",
        "    alpha_t = np.ones_like(z) if alpha is None else np.where(y == 1, 1 - alpha, alpha)"
        "  # BUG\n",
    ),
    "ch04_focal_grad_constant_modulator.py": (
        "binary_focal_loss differentiates as if (1 - p_t)**gamma were a constant.",
        "    dz = alpha_t * s * modulator * (gamma * pt * log_pt - one_minus_pt)"
        "  # eq-ch04-focal-grad\n",
        "    dz = alpha_t * s * modulator * (-one_minus_pt)  # BUG: the modulator's term lost\n",
    ),
    "ch04_kl_times_var_p.py": (
        "kl_diagonal_gaussians multiplies by sigma_p^2 instead of dividing by it.",
        "    inv_var_p = np.exp(-lp)  # 1 / sigma_p^2\n",
        "    inv_var_p = np.exp(lp)  # BUG: sigma_p^2, not its inverse\n",
    ),
    "ch04_kl_logvar_grad_no_half.py": (
        "kl_diagonal_gaussians drops the 1/2 from the gradient with respect to logvar_q.",
        "    dlogvar_q = 0.5 * (np.exp(lq - lp) - 1) / n\n",
        "    dlogvar_q = (np.exp(lq - lp) - 1) / n  # BUG: the 1/2 is lost\n",
    ),
    "ch06_dstar_swapped.py": (
        "optimal_discriminator returns p_g / (p_data + p_g): the two densities swapped.",
        "    t = np.subtract(a, b, out=np.zeros_like(a), where=~both_zero)\n",
        "    t = np.subtract(b, a, out=np.zeros_like(a), where=~both_zero)  # BUG: swapped\n",
    ),
    "ch06_dstar_naive_ratio.py": (
        "optimal_discriminator exponentiates the log-densities: 0 / 0 at -1e4, inf / inf at 800.",
        "    d_star = np.where(t >= 0, 1 / (1 + e), e / (1 + e))  # eq-ch06-optimal-d\n",
        "    d_star = np.exp(a) / (np.exp(a) + np.exp(b))  # BUG: under- and overflows\n",
    ),
    "ch06_dstar_nan_outside_supports.py": (
        "optimal_discriminator subtracts -inf from -inf where both densities vanish (NaN).",
        "    t = np.subtract(a, b, out=np.zeros_like(a), where=~both_zero)\n",
        "    t = a - b  # BUG: -inf - -inf is NaN outside both supports\n",
    ),
    "ch06_js_no_half.py": (
        "jensen_shannon sums KL(p || m) + KL(q || m) without the 1/2: log 4 for disjoint supports.",
        "    integrand = 0.5 * (kl_integrand(a) + kl_integrand(b))  # eq-ch06-js\n",
        "    integrand = kl_integrand(a) + kl_integrand(b)  # BUG: the 1/2 is missing\n",
    ),
    "ch06_js_mixture_not_halved.py": (
        "jensen_shannon takes m = p + q instead of the mixture (p + q) / 2.",
        "    log_m = np.logaddexp(a, b) - np.log(2.0)  # (K,): log of the mixture (p + q) / 2\n",
        "    log_m = np.logaddexp(a, b)  # BUG: log(p + q), not log((p + q) / 2)\n",
    ),
    "ch06_js_left_riemann.py": (
        "jensen_shannon uses a left Riemann sum: right only on uniform grids whose ends vanish.",
        "    js = np.sum(np.diff(grid) * (integrand[1:] + integrand[:-1]) / 2)"
        "  # the trapezoid rule\n",
        "    js = np.sum(np.diff(grid) * integrand[:-1])  # BUG: a Riemann sum\n",
    ),
    "ch06_frechet_trace_once.py": (
        "frechet_distance_gaussians forgets the 2 in -2 Tr (S1 S2)^{1/2}.",
        "    d2 = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt"
        "  # eq-ch06-frechet\n",
        "    d2 = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - tr_sqrt  # BUG: no 2\n",
    ),
    "ch06_frechet_elementwise_sqrt.py": (
        "frechet_distance_gaussians takes the element-wise square root of S1 S2 "
        "(right only for diagonal covariances).",
        "    tr_sqrt = np.sqrt(ev).sum()  # Tr (S1 S2)^{1/2}\n",
        "    tr_sqrt = np.trace(np.sqrt(s1 @ s2))  # BUG: element-wise, not the matrix root\n",
    ),
    "ch06_frechet_eig_unsymmetrised.py": (
        "frechet_distance_gaussians takes np.linalg.eigvals of S1 S2, not symmetric: complex "
        "round-off.",
        "    ev = np.linalg.eigvalsh(a @ s2 @ a)  # (D,): the eigenvalues of S1 S2, real\n",
        "    ev = np.linalg.eigvals(s1 @ s2)  # BUG: not symmetric, complex round-off\n",
    ),
    "ch06_frechet_scipy_sqrtm.py": (
        "frechet_distance_gaussians calls scipy.linalg.sqrtm, which the exercise forbids.",
        "    tr_sqrt = np.sqrt(ev).sum()  # Tr (S1 S2)^{1/2}\n",
        "    from scipy.linalg import sqrtm  # BUG: the exercise asks for NumPy only\n\n"
        "    tr_sqrt = np.trace(sqrtm(s1 @ s2)).real\n",
    ),
    "ch06_gradient_minimax_sign.py": (
        "generator_sample_gradient flips the sign of the minimax gradient (ascends the loss).",
        "        ds = -np.exp(log_sigmoid(s)) / n  # (N,): -D / N, vanishes as D -> 0\n",
        "        ds = np.exp(log_sigmoid(s)) / n  # BUG: the sign of d log(1 - D) / ds\n",
    ),
    "ch06_gradient_mask_without_bias.py": (
        "generator_sample_gradient takes the LeakyReLU's mask on x W1, without the bias b1.",
        "    du = dh * np.where(u > 0, 1.0, negative_slope)  # (N, H): through the LeakyReLU\n",
        "    du = dh * np.where(x @ w1 > 0, 1.0, negative_slope)  # BUG: the bias is dropped\n",
    ),
    "ch06_gradient_ns_sum.py": (
        "generator_sample_gradient's non-saturating gradient is that of the sum, not the mean.",
        "        ds = -np.exp(log_sigmoid(-s)) / n  # (N,): -(1 - D) / N, eq-ch06-ns-gradient\n",
        "        ds = -np.exp(log_sigmoid(-s))  # BUG: the mean's 1/N is missing\n",
    ),
    "ch06_gradient_torch_autograd.py": (
        "generator_sample_gradient lets torch's autograd compute dx, which the exercise forbids.",
        "    dx = du @ w1.T  # (N, D)\n",
        "    import torch  # BUG: the exercise asks for NumPy only, no autograd\n\n"
        "    xt = torch.tensor(x, requires_grad=True)\n"
        "    ht = torch.nn.functional.leaky_relu(xt @ torch.tensor(w1) + torch.tensor(c1), "
        "negative_slope)\n"
        "    st = (ht @ torch.tensor(w2) + torch.tensor(c2))[:, 0]\n"
        "    lt = -torch.nn.functional.logsigmoid(st) if non_saturating else "
        "torch.nn.functional.logsigmoid(-st)\n"
        "    lt.mean().backward()\n"
        "    dx = xt.grad.numpy()\n",
    ),
    "ch07_reparam_no_half.py": (
        "reparameterized_gradient forgets the 1/2 of d exp(logvar / 2) / d logvar.",
        "    dlogvar = (g * eps * std / 2).mean(axis=0)  # dz/dlogvar = eps exp(logvar / 2) / 2\n",
        "    dlogvar = (g * eps * std).mean(axis=0)  # BUG: the 1/2 is lost\n",
    ),
    "ch07_reparam_variance_as_std.py": (
        "reparameterized_gradient uses exp(logvar), the variance, as the standard deviation.",
        "    std = np.exp(0.5 * logvar)  # (L,)\n",
        "    std = np.exp(logvar)  # BUG: the variance, not the standard deviation\n",
    ),
    "ch07_reparam_sum_not_mean.py": (
        "reparameterized_gradient sums over the draws instead of averaging.",
        "    dmu = g.mean(axis=0)  # dz/dmu = 1\n",
        "    dmu = g.sum(axis=0)  # BUG: a sum over the S draws, not their mean\n",
    ),
    "ch07_iwae_no_log_k.py": (
        "iwae_from_log_weights returns log sum w, forgetting the 1/k.",
        "        return m_safe + np.log(s) - np.log(a.shape[0])\n",
        "        return m_safe + np.log(s)  # BUG: log sum, not log mean\n",
    ),
    "ch07_iwae_naive_exp.py": (
        "iwae_from_log_weights exponentiates the log-weights directly: exp(-500) underflows.",
        "    s = np.exp(a - m_safe).sum(axis=0)  # (N,) in [1, k] unless the column is all -inf\n",
        "    s = np.exp(a).sum(axis=0) * np.exp(-m_safe)  # BUG: exp(log w) underflows\n",
    ),
    "ch07_iwae_jensen.py": (
        "iwae_from_log_weights averages the log-weights: the ELBO estimate, not the IWAE bound.",
        "    m = a.max(axis=0)  # (N,) the largest log-weight of each column\n",
        "    return a.mean(axis=0)  # BUG: mean of logs (Jensen), not log of the mean\n"
        "    m = a.max(axis=0)\n",
    ),
    "ch07_iwae_all_minus_inf.py": (
        "iwae_from_log_weights subtracts a -inf maximum: a column of zero weights gives NaN.",
        "    m_safe = np.where(np.isfinite(m), m, 0.0)  # a column of -inf: subtract 0, not -inf\n",
        "    m_safe = m  # BUG: -inf - -inf is NaN for a column of zero weights\n",
    ),
    "ch07_kl_no_minus_one.py": (
        "kl_per_dimension forgets the -1: the KL of the prior to itself is 1/2, not 0.",
        "    return 0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar).mean(axis=0)  # (L,)\n",
        "    return 0.5 * (mu**2 + np.exp(logvar) - logvar).mean(axis=0)  # BUG: no -1\n",
    ),
    "ch07_kl_summed_over_batch.py": (
        "kl_per_dimension sums over the batch instead of averaging.",
        "    return 0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar).mean(axis=0)  # (L,)\n",
        "    return 0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar).sum(axis=0)  # BUG: sum\n",
    ),
    "ch07_active_units_biased_variance.py": (
        "count_active_units divides the variance by N, not N - 1.",
        "    variance = mu.var(axis=0, ddof=1)  # (L,) unbiased, over the pictures\n",
        "    variance = mu.var(axis=0)  # BUG: divided by N\n",
    ),
    "ch07_active_units_mean_not_variance.py": (
        "count_active_units thresholds the mean posterior mean instead of its variance.",
        "    variance = mu.var(axis=0, ddof=1)  # (L,) unbiased, over the pictures\n",
        "    variance = np.abs(mu.mean(axis=0))  # BUG: the mean, not the variance over pictures\n",
    ),
    "ch08_style_no_symmetrisation.py": (
        "style_layer_gradient differentiates only one factor of F F^T: half the gradient.",
        "    dflat = (d_gram + d_gram.transpose(0, 2, 1)) @ flat / (c * h * w)\n",
        "    dflat = d_gram @ flat / (c * h * w)  # BUG: only one factor of F F^T\n",
    ),
    "ch08_style_no_layer_factor.py": (
        "style_layer_gradient drops Gatys' per-layer factor C^2 / 4 from the gradient.",
        "    d_gram = c * c / 4 * 2 * diff / diff.size  # dE/dG, (N, C, C)\n",
        "    d_gram = 2 * diff / diff.size  # BUG: the factor C^2 / 4 is lost\n",
    ),
    "ch08_style_gram_over_hw.py": (
        "style_layer_gradient normalises the Gram matrix by H W instead of C H W.",
        "    gram = flat @ flat.transpose(0, 2, 1) / (c * h * w)  # (N, C, C)\n",
        "    gram = flat @ flat.transpose(0, 2, 1) / (h * w)  # BUG: not divided by C\n",
    ),
    "ch08_conv_dx_no_flip.py": (
        "conv_input_gradient flips the filter once too often (a correlation, not a convolution).",
        "            tap = k[:, :, u, v]  # (F, C): the filters' weights at offset (u, v)\n",
        "            tap = k[:, :, kh - 1 - u, kw - 1 - v]  # BUG: flipped once too often\n",
    ),
    "ch08_conv_dx_no_crop.py": (
        "conv_input_gradient forgets to crop the padding off.",
        "    return dxp[:, :, padding:hp - padding, padding:wp - padding]\n",
        "    return dxp  # BUG: the padded border is kept\n",
    ),
    "ch08_conv_dx_axes_swapped.py": (
        "conv_input_gradient swaps the filter's two spatial axes.",
        "            tap = k[:, :, u, v]  # (F, C): the filters' weights at offset (u, v)\n",
        "            tap = k[:, :, v % kh, u % kw]  # BUG: rows and columns swapped\n",
    ),
    "ch08_inorm_unbiased.py": (
        "instance_norm divides the variance by H W - 1.",
        "    var = a.var(axis=(2, 3), keepdims=True)  # biased: divided by H W\n",
        "    var = a.var(axis=(2, 3), keepdims=True, ddof=1)  # BUG: unbiased\n",
    ),
    "ch08_inorm_batch_statistics.py": (
        "instance_norm uses the batch's statistics: batch normalisation.",
        "    mean = a.mean(axis=(2, 3), keepdims=True)  # (N, C, 1, 1): per picture and channel\n"
        "    var = a.var(axis=(2, 3), keepdims=True)  # biased: divided by H W\n",
        "    mean = a.mean(axis=(0, 2, 3), keepdims=True)  # BUG: over the batch too\n"
        "    var = a.var(axis=(0, 2, 3), keepdims=True)\n",
    ),
    "ch08_inorm_eps_outside.py": (
        "instance_norm adds eps to the standard deviation instead of the variance.",
        "    x_hat = (a - mean) / np.sqrt(var + eps)\n",
        "    x_hat = (a - mean) / (np.sqrt(var) + eps)  # BUG: eps outside the root\n",
    ),
    "ch09_psnr_range_not_squared.py": (
        "psnr divides data_range, not its square, by the MSE (right only for data_range 1).",
        "        out = 10.0 * np.log10(data_range**2 / mse)\n",
        "        out = 10.0 * np.log10(data_range / mse)  # BUG: the peak is not squared\n",
    ),
    "ch09_psnr_natural_log.py": (
        "psnr takes the natural logarithm instead of log10.",
        "        out = 10.0 * np.log10(data_range**2 / mse)\n",
        "        out = 10.0 * np.log(data_range**2 / mse)  # BUG: ln, not log10\n",
    ),
    "ch09_psnr_stack_mean.py": (
        "psnr computes one MSE over the whole stack and repeats it for every picture.",
        "    mse = ((r - c) ** 2).mean(axis=(-2, -1))  # () or (N,): one per picture\n",
        "    mse = np.full(r.shape[:-2], ((r - c) ** 2).mean())  # BUG: one MSE for the stack\n",
    ),
    "ch09_psnr_skimage.py": (
        "psnr lets skimage.metrics compute the MSE, which the exercise forbids.",
        "    mse = ((r - c) ** 2).mean(axis=(-2, -1))  # () or (N,): one per picture\n",
        "    from skimage.metrics import mean_squared_error  # BUG: NumPy only, no skimage\n"
        "\n"
        "    pairs = zip(r.reshape(-1, *r.shape[-2:]), c.reshape(-1, *c.shape[-2:]))\n"
        "    mse = np.array([mean_squared_error(a, b) for a, b in pairs]).reshape(r.shape[:-2])\n",
    ),
    "ch09_shuffle_subpixel_axes_swapped.py": (
        "pixel_shuffle swaps the two sub-pixel axes: channel c r^2 + i r + j lands on (j, i).",
        "    moved = split.transpose(0, 1, 4, 2, 5, 3)  # (N, C, H, r_i, W, r_j)\n",
        "    moved = split.transpose(0, 1, 4, 3, 5, 2)  # BUG: (N, C, H, r_j, W, r_i)\n",
    ),
    "ch09_shuffle_r_and_c_swapped.py": (
        "pixel_shuffle splits the channels as (r, r, C) instead of (C, r, r).",
        "    split = a.reshape(n, c, r, r, h, w)  # (N, C, r_i, r_j, H, W): channel c r^2 + i r "
        "+ j\n",
        "    split = a.reshape(n, r, r, c, h, w).transpose(0, 3, 1, 2, 4, 5)  # BUG: (r, r, C)\n",
    ),
    "ch09_shuffle_tiles_not_interleaved.py": (
        "pixel_shuffle tiles the r^2 sub-pictures side by side instead of interleaving them.",
        "    moved = split.transpose(0, 1, 4, 2, 5, 3)  # (N, C, H, r_i, W, r_j)\n",
        "    moved = split.transpose(0, 1, 2, 4, 3, 5)  # BUG: (N, C, r_i, H, r_j, W), tiles\n",
    ),
    "ch09_unshuffle_forward_permutation.py": (
        "pixel_unshuffle reuses the forward permutation (0, 1, 4, 2, 5, 3), not its inverse.",
        "    moved = split.transpose(0, 1, 3, 5, 2, 4)  # (N, C, r_i, r_j, H, W): the inverse "
        "permutation\n",
        "    moved = split.transpose(0, 1, 4, 2, 5, 3)  # BUG: shuffle's permutation again\n",
    ),
    "ch09_shuffle_torch.py": (
        "pixel_shuffle calls torch.nn.functional.pixel_shuffle, which the exercise forbids.",
        "    return moved.reshape(n, c, h * r, w * r)  # row h r + i, column w r + j\n",
        "    import torch  # BUG: the exercise asks for NumPy only\n"
        "\n"
        "    return torch.nn.functional.pixel_shuffle(torch.from_numpy(a.copy()), r).numpy()\n",
    ),
    "ch09_masked_mean_over_all_pixels.py": (
        "masked_reconstruction_loss divides by the number of pixels, not the known ones.",
        "    n_known = m.sum()\n",
        "    n_known = m.size  # BUG: every pixel, not the known ones\n",
    ),
    "ch09_masked_grad_no_mask.py": (
        "masked_reconstruction_loss's gradient forgets the mask: the hole pulls on x_hat.",
        "    grad = m * diff / n_known  # d/dx_hat of (1/2) m d^2 is m d: zero in the hole\n",
        "    grad = diff / n_known  # BUG: the mask is lost\n",
    ),
    "ch09_masked_loss_no_half.py": (
        "masked_reconstruction_loss drops the 1/2 from the loss (its gradient is then 2 grad).",
        "    loss = 0.5 * float(np.sum(m * diff * diff)) / float(n_known)\n",
        "    loss = float(np.sum(m * diff * diff)) / float(n_known)  # BUG: the 1/2 is lost\n",
    ),
    "ch09_masked_grad_half.py": (
        "masked_reconstruction_loss keeps the 1/2 in the gradient: the square's 2 is forgotten.",
        "    grad = m * diff / n_known  # d/dx_hat of (1/2) m d^2 is m d: zero in the hole\n",
        "    grad = 0.5 * m * diff / n_known  # BUG: d(d^2)/dd = 2 d, the 2 is lost\n",
    ),
}

HEADER = "# MUTANT for the grader's tests, not a solution (tests/mutants/make_mutants.py):\n# {}\n"


def write_mutants(dest: Path) -> list[Path]:
    """Write every mutant into ``dest`` and return their paths.

    Raises ``ValueError`` naming each entry whose reference line is not found
    exactly once in its exercise module (the reference changed under it).
    """
    dest.mkdir(parents=True, exist_ok=True)
    written, stale = [], []
    for name, (mistake, old, new) in MUTANTS.items():
        module = EXERCISES / f"{name.split('_')[0]}.py"  # ch01_conv_no_flip.py -> ch01.py
        reference = module.read_text(encoding="utf-8")
        if reference.count(old) != 1:
            stale.append(f"{name}: the line to mutate is not (once) in {module.name}:\n{old}")
            continue
        path = dest / name
        path.write_text(HEADER.format(mistake) + reference.replace(old, new), "utf-8")
        written.append(path)
    if stale:
        raise ValueError("stale mutants in tests/mutants/make_mutants.py:\n" + "\n".join(stale))
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/mutants/make_mutants.py OUT_DIR", file=sys.stderr)
        return 2
    for path in write_mutants(Path(argv[0])):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
