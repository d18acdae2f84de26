#pragma once
/// \file
/// Learning-rate schedules with the semantics of `torch.optim.lr_scheduler`, as pure functions
/// of the step index: `optimizer.set_lr(schedule(t))`.
///
/// A schedule is a small value built once (it checks its arguments there) whose call
/// `schedule(t)` returns the learning rate for step t = 0, 1, 2, …: the rate PyTorch's optimiser
/// holds after t calls of `scheduler.step()`. Whether a step is an epoch or an update is the
/// caller's choice, as in PyTorch. The arithmetic is in double, as PyTorch's in Python floats;
/// an optimiser with a float Scalar rounds the result once.
///
/// PyTorch updates most rates recursively (the new rate from the rate the optimiser holds);
/// these are the closed forms of the same sequences, which PyTorch also has
/// (`_get_closed_form_lr`). They differ from the recursion only by rounding; where that grows,
/// the schedule's comment says by how much. (The recursion also carries on from whatever rate
/// the optimiser holds, so it follows a rate changed by hand or by another scheduler; a closed
/// form does not: it depends on t alone.) tests/reference/make_reference_schedules.py records
/// PyTorch's sequences, and the tests hold these to them within 1e-12 relative.

#include "../detail/shape.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace backprop {

namespace detail {

inline constexpr double pi = 3.141592653589793;  // Python's math.pi, the double nearest π

inline void require_positive_lr(const char* schedule, double base_lr) {
    if (!std::isfinite(base_lr) || base_lr <= 0) {
        fail(schedule, ": base_lr is ", base_lr, " but must be finite and positive");
    }
}

inline void require_at_least_one(const char* schedule, const char* name, std::int64_t value) {
    if (value < 1) fail(schedule, ": ", name, " is ", value, " but must be at least 1");
}

inline void require_eta_min(const char* schedule, double eta_min, double base_lr) {
    if (!(eta_min >= 0 && eta_min <= base_lr)) {
        fail(schedule, ": eta_min is ", eta_min, " but must be in [0, base_lr = ", base_lr, "]");
    }
}

inline void require_factor(const char* schedule, const char* name, double factor, bool zero_ok) {
    if (!((zero_ok ? factor >= 0 : factor > 0) && factor <= 1)) {
        fail(schedule, ": ", name, " is ", factor, " but must be in ", zero_ok ? "[0, 1]" : "(0, 1]");
    }
}

inline void require_step(const char* schedule, std::int64_t t) {
    if (t < 0) fail(schedule, ": the step t is ", t, " but must be at least 0");
}

// The closed forms, shared by the schedules that compose them.
inline double linear_lr(double base_lr, double start_factor, double end_factor,
                        std::int64_t total_iters, std::int64_t t) {
    const auto done = static_cast<double>(std::min(t, total_iters));
    return base_lr *
           (start_factor + (end_factor - start_factor) * done / static_cast<double>(total_iters));
}

inline double cosine_lr(double base_lr, std::int64_t T_max, double eta_min, std::int64_t t) {
    const double angle = pi * static_cast<double>(t) / static_cast<double>(T_max);
    return eta_min + (base_lr - eta_min) * (1 + std::cos(angle)) / 2;
}

}  // namespace detail

/// Step decay, as `torch.optim.lr_scheduler.StepLR(optimizer, step_size, gamma)` on an optimiser
/// with lr = base_lr: the rate is multiplied by gamma every step_size steps.
///
///     lr(t) = base_lr · gamma^⌊t / step_size⌋
class StepLR {
public:
    /// PyTorch's default gamma = 0.1. Throws std::invalid_argument, naming StepLR and the value,
    /// unless base_lr is finite and positive, step_size ≥ 1 and 0 < gamma ≤ 1.
    StepLR(double base_lr, std::int64_t step_size, double gamma = 0.1)
        : base_lr_(base_lr), step_size_(step_size), gamma_(gamma) {
        detail::require_positive_lr("StepLR", base_lr);
        detail::require_at_least_one("StepLR", "step_size", step_size);
        detail::require_factor("StepLR", "gamma", gamma, false);
    }

    /// lr(t) = base_lr · gamma^⌊t / step_size⌋ for step t ≥ 0 (std::invalid_argument if t < 0).
    ///
    /// PyTorch multiplies by gamma at each multiple of step_size instead of raising it to a
    /// power; the two differ by a rounding per decay, below 1e-15 relative for 100 decays.
    double operator()(std::int64_t t) const {
        detail::require_step("StepLR", t);
        return base_lr_ * std::pow(gamma_, static_cast<double>(t / step_size_));
    }

    double base_lr() const { return base_lr_; }           ///< The rate at t = 0.
    std::int64_t step_size() const { return step_size_; }  ///< Steps between decays.
    double gamma() const { return gamma_; }                ///< The factor of each decay.

private:
    double base_lr_;
    std::int64_t step_size_;
    double gamma_;
};

/// Cosine annealing from base_lr down to eta_min over T_max steps, as
/// `torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max, eta_min)` on an optimiser with
/// lr = base_lr (without restarts):
///
///     lr(t) = eta_min + (base_lr − eta_min) · (1 + cos(π·t / T_max)) / 2
///
/// lr(0) = base_lr, lr(T_max) = eta_min. Past T_max the cosine goes on, as PyTorch's does: the
/// rate climbs back to base_lr at 2·T_max, and so on with period 2·T_max. To stay at eta_min,
/// stop calling it, or pass std::min(t, T_max).
class CosineAnnealingLR {
public:
    /// PyTorch's default eta_min = 0. Throws std::invalid_argument, naming CosineAnnealingLR and
    /// the value, unless base_lr is finite and positive, T_max ≥ 1 and 0 ≤ eta_min ≤ base_lr.
    CosineAnnealingLR(double base_lr, std::int64_t T_max, double eta_min = 0)
        : base_lr_(base_lr), T_max_(T_max), eta_min_(eta_min) {
        detail::require_positive_lr("CosineAnnealingLR", base_lr);
        detail::require_at_least_one("CosineAnnealingLR", "T_max", T_max);
        detail::require_eta_min("CosineAnnealingLR", eta_min, base_lr);
    }

    /// lr(t) = eta_min + (base_lr − eta_min) · (1 + cos(π·t / T_max)) / 2 for step t ≥ 0
    /// (std::invalid_argument if t < 0), the closed form PyTorch documents.
    ///
    /// PyTorch's scheduler computes the rate recursively, lr(t) = eta_min + (lr(t−1) − eta_min) ·
    /// (1 + cos(π·t/T_max)) / (1 + cos(π·(t−1)/T_max)), with a special case where the
    /// denominator is 0. Over the first T_max steps both agree to a few units in the last place
    /// (below 3e-16 relative); past T_max the recursion's rounding accumulates with each period:
    /// with torch 1.13, 9e-15 relative after 6 periods of T_max = 7 and 7.5e-14 after 200 steps
    /// (make_reference_schedules.py writes these figures into the reference header).
    double operator()(std::int64_t t) const {
        detail::require_step("CosineAnnealingLR", t);
        return detail::cosine_lr(base_lr_, T_max_, eta_min_, t);
    }

    double base_lr() const { return base_lr_; }     ///< The rate at t = 0.
    std::int64_t T_max() const { return T_max_; }    ///< Steps from base_lr down to eta_min.
    double eta_min() const { return eta_min_; }     ///< The rate at t = T_max.

private:
    double base_lr_;
    std::int64_t T_max_;
    double eta_min_;
};

/// A linear ramp of the rate's factor from start_factor to end_factor over total_iters steps, as
/// `torch.optim.lr_scheduler.LinearLR(optimizer, start_factor, end_factor, total_iters)` on an
/// optimiser with lr = base_lr: a linear warm-up when start_factor < end_factor.
///
///     lr(t) = base_lr · (start_factor + (end_factor − start_factor) · min(t, total_iters) / total_iters)
///
/// lr(0) = start_factor·base_lr; from t = total_iters on, lr = end_factor·base_lr.
class LinearLR {
public:
    /// PyTorch's defaults: start_factor = 1/3, end_factor = 1, total_iters = 5. Throws
    /// std::invalid_argument, naming LinearLR and the value, unless base_lr is finite and
    /// positive, 0 < start_factor ≤ 1, 0 ≤ end_factor ≤ 1 (PyTorch's limits) and
    /// total_iters ≥ 1 (PyTorch divides by it).
    explicit LinearLR(double base_lr, double start_factor = 1.0 / 3, double end_factor = 1.0,
                      std::int64_t total_iters = 5)
        : base_lr_(base_lr), start_factor_(start_factor), end_factor_(end_factor),
          total_iters_(total_iters) {
        detail::require_positive_lr("LinearLR", base_lr);
        detail::require_factor("LinearLR", "start_factor", start_factor, false);
        detail::require_factor("LinearLR", "end_factor", end_factor, true);
        detail::require_at_least_one("LinearLR", "total_iters", total_iters);
    }

    /// lr(t) = base_lr · (start_factor + (end_factor − start_factor) · min(t, total_iters) /
    /// total_iters) for step t ≥ 0 (std::invalid_argument if t < 0).
    ///
    /// PyTorch multiplies the rate by a ratio of consecutive factors each step instead; the two
    /// differ by a rounding per step of the ramp.
    double operator()(std::int64_t t) const {
        detail::require_step("LinearLR", t);
        return detail::linear_lr(base_lr_, start_factor_, end_factor_, total_iters_, t);
    }

    double base_lr() const { return base_lr_; }              ///< The rate the factors scale.
    double start_factor() const { return start_factor_; }    ///< The factor at t = 0.
    double end_factor() const { return end_factor_; }        ///< The factor from total_iters on.
    std::int64_t total_iters() const { return total_iters_; }  ///< Steps of the ramp.

private:
    double base_lr_;
    double start_factor_;
    double end_factor_;
    std::int64_t total_iters_;
};

/// A linear warm-up to base_lr over `warmup` steps, then cosine annealing to eta_min over T_max
/// steps: the schedule GPT-style training uses. It is PyTorch's
///
///     SequentialLR(optimizer, [LinearLR(optimizer, start_factor, 1.0, total_iters=warmup),
///                              CosineAnnealingLR(optimizer, T_max, eta_min)],
///                  milestones=[warmup])
///
/// on an optimiser with lr = base_lr, which at the milestone restarts the cosine at its own step
/// 0 (`scheduler.step(0)`), so
///
///     lr(t) = base_lr · (start_factor + (1 − start_factor) · t / warmup)           for t < warmup
///     lr(t) = eta_min + (base_lr − eta_min) · (1 + cos(π·(t − warmup) / T_max)) / 2   for t ≥ warmup
///
/// The warm-up ends one step short of base_lr (at t = warmup − 1 the factor is
/// start_factor + (1 − start_factor)·(warmup − 1)/warmup); the cosine starts at base_lr at
/// t = warmup and reaches eta_min at t = warmup + T_max, the last step of a run of
/// warmup + T_max + 1 steps. Past it the cosine goes on and climbs again, as in
/// CosineAnnealingLR. With torch 1.13 SequentialLR gives exactly this sequence (up to the
/// recursions' rounding, see CosineAnnealingLR); its only quirk is the deprecation warning that
/// `step(0)` prints at the milestone.
class WarmupCosineLR {
public:
    /// The arguments in the order the PyTorch composition names them. Throws
    /// std::invalid_argument, naming WarmupCosineLR and the value, unless base_lr is finite and
    /// positive, 0 < start_factor ≤ 1, warmup ≥ 1, T_max ≥ 1 and 0 ≤ eta_min ≤ base_lr.
    WarmupCosineLR(double base_lr, double start_factor, std::int64_t warmup, std::int64_t T_max,
                   double eta_min = 0)
        : base_lr_(base_lr), start_factor_(start_factor), warmup_(warmup), T_max_(T_max),
          eta_min_(eta_min) {
        detail::require_positive_lr("WarmupCosineLR", base_lr);
        detail::require_factor("WarmupCosineLR", "start_factor", start_factor, false);
        detail::require_at_least_one("WarmupCosineLR", "warmup", warmup);
        detail::require_at_least_one("WarmupCosineLR", "T_max", T_max);
        detail::require_eta_min("WarmupCosineLR", eta_min, base_lr);
    }

    /// lr(t) = base_lr · (start_factor + (1 − start_factor) · t / warmup) for t < warmup, and
    /// eta_min + (base_lr − eta_min) · (1 + cos(π·(t − warmup) / T_max)) / 2 from t = warmup on
    /// (std::invalid_argument if t < 0).
    double operator()(std::int64_t t) const {
        detail::require_step("WarmupCosineLR", t);
        return t < warmup_ ? detail::linear_lr(base_lr_, start_factor_, 1.0, warmup_, t)
                           : detail::cosine_lr(base_lr_, T_max_, eta_min_, t - warmup_);
    }

    double base_lr() const { return base_lr_; }            ///< The rate at the end of warm-up.
    double start_factor() const { return start_factor_; }  ///< lr(0) / base_lr.
    std::int64_t warmup() const { return warmup_; }        ///< Steps of the warm-up.
    std::int64_t T_max() const { return T_max_; }          ///< Steps of the cosine to eta_min.
    double eta_min() const { return eta_min_; }            ///< The rate at t = warmup + T_max.

private:
    double base_lr_;
    double start_factor_;
    std::int64_t warmup_;
    std::int64_t T_max_;
    double eta_min_;
};

}  // namespace backprop
