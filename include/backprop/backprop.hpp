#pragma once
/// \file
/// The umbrella header: everything in backprop.
///
/// The data convention, the same everywhere: rows are samples.
///   X is (batch, in), W is (in, out), b is (1, out), and a Dense layer computes Z = X·W + b.
/// A gradient is named after what it differentiates and has its shape: dW = ∂L/∂W is (in, out).
/// A layer's backward() sums over the batch; only the loss divides: MSE by the number of elements
/// of its prediction (batch × outputs), SoftmaxCrossEntropy by the number of samples.
/// An image batch is (batch, C·H·W), each row one image flattened in PyTorch's NCHW order:
/// element (c, h, w) of sample n is X(n, c·H·W + h·W + w) (layers/image.hpp).

#include "check/gradient_check.hpp"
#include "check/numeric.hpp"
#include "data/batches.hpp"
#include "data/csv.hpp"
#include "data/synthetic.hpp"
#include "data/text.hpp"
#include "io/graphviz.hpp"
#include "io/serialize.hpp"
#include "layers/activations.hpp"
#include "layers/attention.hpp"
#include "layers/conv2d.hpp"
#include "layers/dropout.hpp"
#include "layers/embedding.hpp"
#include "layers/dense.hpp"
#include "layers/image.hpp"
#include "layers/init.hpp"
#include "layers/normalization.hpp"
#include "layers/parameter.hpp"
#include "layers/pooling.hpp"
#include "losses/mse.hpp"
#include "losses/softmax_cross_entropy.hpp"
#include "nn/model.hpp"
#include "nn/sequential.hpp"
#include "nn/shards.hpp"
#include "optim/adam.hpp"
#include "optim/clip.hpp"
#include "optim/momentum.hpp"
#include "optim/optimizer.hpp"
#include "optim/schedule.hpp"
#include "optim/sgd.hpp"
#include "parallel/data_parallel.hpp"
#include "parallel/thread_pool.hpp"

/// Everything in the library.
namespace backprop {}
