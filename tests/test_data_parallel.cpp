// nn/shards.hpp, parallel/thread_pool.hpp and parallel/data_parallel.hpp: a batch split into
// shards, a pool of threads, and the data-parallel step built on both. In backprop_thread_tests,
// which scripts/test.sh also runs under ThreadSanitizer.
#include "helpers.hpp"

#include <backprop/backprop.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <limits>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bp = backprop;

namespace {

// Every parameter value of `model`, flat.
template <typename Model>
Eigen::VectorXd parameters_of(const Model& model) {
    Eigen::VectorXd flat;
    bp::gather_parameters(model, flat);
    return flat;
}

// Every gradient of `model`, flat.
template <typename Model>
Eigen::VectorXd gradients_of(const Model& model) {
    Eigen::VectorXd flat;
    bp::gather_gradients(model, flat);
    return flat;
}

using Mlp = bp::Sequential<bp::Dense<double>, bp::Tanh<double>, bp::Dense<double>>;
using Classifier = bp::Sequential<bp::Dense<double>, bp::ReLU<double>, bp::Dense<double>,
                                  bp::ReLU<double>, bp::Dense<double>>;

Mlp make_mlp() {
    return Mlp(bp::Dense<double>(6, 16, 1), bp::Tanh<double>(), bp::Dense<double>(16, 3, 2));
}

Classifier make_classifier() {
    return Classifier(bp::Dense<double>(8, 24, 3), bp::ReLU<double>(), bp::Dense<double>(24, 12, 4),
                      bp::ReLU<double>(), bp::Dense<double>(12, 5, 5));
}

Eigen::VectorXi labels_for(Eigen::Index rows, int classes) {
    Eigen::VectorXi labels(rows);
    for (Eigen::Index i = 0; i < rows; ++i) labels(i) = int((i * 7 + 3) % classes);
    return labels;
}

// `steps` steps of `optimizer` on `model`, each on its own slice of (X, target), batch rows at a
// time, through a DataParallel of `threads` threads (every batch split, min_rows 1). Returns the
// losses.
template <typename Loss, typename Model, typename Optimizer, typename Target>
std::vector<double> train(Model& model, Optimizer& optimizer, int threads,
                          const Eigen::MatrixXd& X, const Target& target, Eigen::Index batch,
                          int steps) {
    bp::DataParallel<Model, Loss> parallel(model, threads);
    parallel.set_min_rows(1);
    std::vector<double> losses;
    for (int s = 0; s < steps; ++s) {
        const Eigen::Index begin = (s * batch) % (X.rows() - batch + 1);
        losses.push_back(
            parallel.step(X.middleRows(begin, batch), target.middleRows(begin, batch)));
        optimizer.step(model);
    }
    return losses;
}

// The same steps on one thread, without DataParallel: forward, loss, backward.
template <typename Loss, typename Model, typename Optimizer, typename Target>
std::vector<double> train_plainly(Model& model, Optimizer& optimizer, const Eigen::MatrixXd& X,
                                  const Target& target, Eigen::Index batch, int steps) {
    Loss loss;
    std::vector<double> losses;
    for (int s = 0; s < steps; ++s) {
        const Eigen::Index begin = (s * batch) % (X.rows() - batch + 1);
        losses.push_back(loss.forward(model.forward(X.middleRows(begin, batch)),
                                      target.middleRows(begin, batch)));
        model.backward(loss.backward());
        optimizer.step(model);
    }
    return losses;
}

}  // namespace

TEST_CASE("shard_of: consecutive shards, the first rows % parts one row longer", "[shards]") {
    SECTION("uneven") {
        // 10 rows in 3 shards: 4, 3, 3.
        CHECK(bp::shard_of(10, 3, 0).begin == 0);
        CHECK(bp::shard_of(10, 3, 0).rows == 4);
        CHECK(bp::shard_of(10, 3, 1).begin == 4);
        CHECK(bp::shard_of(10, 3, 1).rows == 3);
        CHECK(bp::shard_of(10, 3, 2).begin == 7);
        CHECK(bp::shard_of(10, 3, 2).rows == 3);
        CHECK(bp::shard_weight<double>(bp::shard_of(10, 3, 0), 10) == 0.4);
    }
    SECTION("every split covers the batch once, in order") {
        for (Eigen::Index rows = 0; rows < 20; ++rows) {
            for (Eigen::Index parts = 1; parts < 7; ++parts) {
                Eigen::Index next = 0;
                for (Eigen::Index i = 0; i < parts; ++i) {
                    const bp::Shard shard = bp::shard_of(rows, parts, i);
                    CHECK(shard.begin == next);
                    CHECK(shard.rows >= rows / parts);
                    CHECK(shard.rows <= rows / parts + 1);
                    next += shard.rows;
                }
                CHECK(next == rows);
            }
        }
    }
    SECTION("more shards than rows: the last are empty, and weigh 0") {
        CHECK(bp::shard_of(2, 4, 1).rows == 1);
        CHECK(bp::shard_of(2, 4, 2).rows == 0);
        CHECK(bp::shard_of(2, 4, 3).begin == 2);
        CHECK(bp::shard_weight<float>(bp::shard_of(2, 4, 3), 2) == 0.0f);
    }
    SECTION("bad input") {
        CHECK_THROWS_WITH(bp::shard_of(10, 3, 3),
                          "shard_of: shard 3 of 3 of a batch of 10 rows does not exist");
        CHECK_THROWS_AS(bp::shard_of(10, 0, 0), std::invalid_argument);
        CHECK_THROWS_AS(bp::shard_of(10, 3, -1), std::invalid_argument);
        CHECK_THROWS_AS(bp::shard_of(-1, 3, 0), std::invalid_argument);
        CHECK_THROWS_WITH(bp::shard_weight<double>(bp::Shard{0, 5}, 4),
                          "shard_weight: a shard of 5 rows of a batch of 4 rows");
        CHECK_THROWS_AS(bp::shard_weight<double>(bp::Shard{0, 0}, 0), std::invalid_argument);
    }
}

TEST_CASE("gather and scatter: a model's gradients and parameters as one flat vector",
          "[shards]") {
    Mlp net = make_mlp();
    const auto X = test::random_matrix<double>(5, 6, 7);
    const auto y = test::random_matrix<double>(5, 3, 8);
    const Eigen::Index count = bp::parameter_count(net);
    REQUIRE(count == 6 * 16 + 16 + 16 * 3 + 3);

    SECTION("gradients before a backward: logic_error, nothing written") {
        Eigen::VectorXd flat = Eigen::VectorXd::Constant(3, 1.0);
        CHECK_THROWS_AS(bp::gather_gradients(net, flat), std::logic_error);
        CHECK(flat == Eigen::VectorXd::Constant(3, 1.0));
        CHECK_THROWS_AS(bp::scatter_gradients(Eigen::VectorXd::Zero(count), net), std::logic_error);
    }
    bp::MSE<double> mse;
    mse.forward(net.forward(X), y);
    net.backward(mse.backward());

    SECTION("gradients: the order of for_each_parameter, each tensor in storage order") {
        const Eigen::VectorXd flat = gradients_of(net);
        REQUIRE(flat.size() == count);
        const auto& dW0 = net.gradients<0>().dW;
        CHECK(flat(0) == dW0(0, 0));
        CHECK(flat(1) == dW0(1, 0));  // column-major
        CHECK(flat(6 * 16) == net.gradients<0>().db(0));
        CHECK(flat(count - 1) == net.gradients<2>().db(2));
    }
    SECTION("gradients: round trip") {
        const Eigen::VectorXd before = gradients_of(net);
        const Eigen::VectorXd doubled = 2 * before;
        bp::scatter_gradients(doubled, net);
        CHECK(gradients_of(net) == doubled);
        CHECK(net.gradients<2>().dW(1, 1) == doubled(6 * 16 + 16 + 1 + 16 * 1));
        bp::scatter_gradients(before, net);
        CHECK(gradients_of(net) == before);
    }
    SECTION("parameters: round trip, gradients untouched") {
        const Eigen::VectorXd gradients = gradients_of(net);
        const Eigen::VectorXd values = parameters_of(net);
        Mlp other(bp::Dense<double>(6, 16, 11), bp::Tanh<double>(), bp::Dense<double>(16, 3, 12));
        REQUIRE(parameters_of(other) != values);
        bp::scatter_parameters(values, other);
        CHECK(parameters_of(other) == values);
        CHECK(other.layer<2>().W == net.layer<2>().W);
        CHECK(gradients_of(net) == gradients);
    }
    SECTION("bad input: the wrong size throws naming the call and both sizes, changing nothing") {
        const Eigen::VectorXd values = parameters_of(net);
        const Eigen::VectorXd gradients = gradients_of(net);
        CHECK_THROWS_WITH(bp::scatter_parameters(Eigen::VectorXd::Zero(count - 1), net),
                          "scatter_parameters: the vector has 162 values but the model has 163 "
                          "parameters");
        CHECK_THROWS_WITH(bp::scatter_gradients(Eigen::VectorXd::Zero(count + 1), net),
                          "scatter_gradients: the vector has 164 values but the model has 163 "
                          "parameters");
        CHECK(parameters_of(net) == values);
        CHECK(gradients_of(net) == gradients);
    }
}

TEST_CASE("ThreadPool: every index once, on its own thread, exceptions by index", "[threads]") {
    bp::ThreadPool pool(3);
    REQUIRE(pool.size() == 3);
    SECTION("every index runs once per run, the caller's as 0") {
        std::vector<int> runs(3, 0);
        std::vector<std::thread::id> ids(3);
        for (int repeat = 0; repeat < 50; ++repeat) {
            pool.run(3, [&](int index) {
                ++runs[std::size_t(index)];
                ids[std::size_t(index)] = std::this_thread::get_id();
            });
        }
        CHECK(runs == std::vector<int>{50, 50, 50});
        CHECK(ids[0] == std::this_thread::get_id());
        CHECK(ids[1] != ids[0]);
        CHECK(ids[2] != ids[1]);
        pool.run(2, [&](int index) { ++runs[std::size_t(index)]; });
        pool.run(1, [&](int index) { ++runs[std::size_t(index)]; });
        CHECK(runs == std::vector<int>{52, 51, 50});
    }
    SECTION("the exception of the smallest index that threw, after all have finished") {
        std::atomic<int> finished{0};
        const auto task = [&](int index) {
            if (index > 0) {
                ++finished;
                throw std::runtime_error("task " + std::to_string(index));
            }
            ++finished;
        };
        for (int repeat = 0; repeat < 20; ++repeat) {
            finished = 0;
            CHECK_THROWS_WITH(pool.run(3, task), "task 1");
            CHECK(finished == 3);
        }
        pool.run(3, [](int) {});  // the errors are forgotten
    }
    SECTION("bad input") {
        CHECK_THROWS_WITH(pool.run(4, [](int) {}),
                          "ThreadPool::run: 4 indices, but the pool runs 1 to 3");
        CHECK_THROWS_AS(pool.run(0, [](int) {}), std::invalid_argument);
        CHECK_THROWS_WITH(bp::ThreadPool(0), "ThreadPool: 0 threads, but a pool needs at least 1");
        CHECK_THROWS_AS(pool.run(2, [&](int) { pool.run(1, [](int) {}); }), std::logic_error);
        pool.run(3, [](int) {});
    }
}

TEST_CASE("DataParallel: the MLP with MSE and SGD agrees with one thread to 1e-12",
          "[data_parallel][threads]") {
    const auto X = test::random_matrix<double>(100, 6, 21);
    const Eigen::MatrixXd y = test::random_matrix<double>(100, 3, 22);
    Mlp reference = make_mlp();
    bp::SGD<double> sgd(0.1);
    const auto expected = train_plainly<bp::MSE<double>>(reference, sgd, X, y, 31, 6);
    for (const int threads : {1, 2, 3}) {
        CAPTURE(threads);
        Mlp net = make_mlp();
        const auto losses = train<bp::MSE<double>>(net, sgd, threads, X, y, 31, 6);  // 31: uneven
        for (std::size_t s = 0; s < losses.size(); ++s) {
            CHECK(std::abs(losses[s] - expected[s]) <= 1e-12 * std::abs(expected[s]));
        }
        const double difference = test::relative_difference(parameters_of(net),
                                                            parameters_of(reference));
        CHECK(difference <= 1e-12);
        CHECK(parameters_of(net) != parameters_of(make_mlp()));  // it trained
    }
}

TEST_CASE("DataParallel: a classifier with cross-entropy and Adam agrees with one thread to "
          "1e-12", "[data_parallel][threads]") {
    const auto X = test::random_matrix<double>(120, 8, 23);
    const Eigen::VectorXi labels = labels_for(120, 5);
    Classifier reference = make_classifier();
    bp::Adam<double> adam(0.01);
    const auto expected =
        train_plainly<bp::SoftmaxCrossEntropy<double>>(reference, adam, X, labels, 40, 8);
    for (const int threads : {2, 3}) {
        CAPTURE(threads);
        Classifier net = make_classifier();
        bp::Adam<double> own(0.01);
        // 40 rows on 3 threads: 14, 13, 13.
        const auto losses =
            train<bp::SoftmaxCrossEntropy<double>>(net, own, threads, X, labels, 40, 8);
        for (std::size_t s = 0; s < losses.size(); ++s) {
            CHECK(std::abs(losses[s] - expected[s]) <= 1e-12 * std::abs(expected[s]));
        }
        CHECK(test::relative_difference(parameters_of(net), parameters_of(reference)) <= 1e-12);
        CHECK(test::relative_difference(gradients_of(net), gradients_of(reference)) <= 1e-12);
    }
}

TEST_CASE("DataParallel: for a given number of threads, the same bits from run to run",
          "[data_parallel][threads]") {
    const auto X = test::random_matrix<double>(120, 8, 24);
    const Eigen::VectorXi labels = labels_for(120, 5);
    for (const int threads : {2, 3}) {
        CAPTURE(threads);
        std::vector<Eigen::VectorXd> runs;
        for (int run = 0; run < 4; ++run) {
            Classifier net = make_classifier();
            bp::Adam<double> adam(0.01);
            train<bp::SoftmaxCrossEntropy<double>>(net, adam, threads, X, labels, 41, 6);
            runs.push_back(parameters_of(net));
        }
        for (const auto& run : runs) {
            REQUIRE(run.size() == runs[0].size());
            const std::size_t bytes = sizeof(double) * std::size_t(run.size());
            CHECK(std::memcmp(run.data(), runs[0].data(), bytes) == 0);
        }
    }
}

TEST_CASE("DataParallel: small batches run on fewer shards", "[data_parallel][threads]") {
    Mlp net = make_mlp();
    bp::DataParallel<Mlp, bp::MSE<double>> parallel(net, 3);
    CHECK(parallel.threads() == 3);
    CHECK(parallel.min_rows() == 64);
    CHECK(parallel.shards(1) == 1);
    CHECK(parallel.shards(127) == 1);
    CHECK(parallel.shards(128) == 2);
    CHECK(parallel.shards(192) == 3);
    CHECK(parallel.shards(100000) == 3);
    parallel.set_min_rows(1);
    CHECK(parallel.shards(2) == 2);
    CHECK_THROWS_WITH(parallel.set_min_rows(0),
                      "DataParallel::set_min_rows: 0 rows, but a shard needs 1");
    CHECK_THROWS_AS(parallel.shards(0), std::invalid_argument);
    // A batch of 2 rows on 3 threads: two shards, the same gradients as one thread.
    Mlp reference = make_mlp();
    const auto X = test::random_matrix<double>(2, 6, 25);
    const Eigen::MatrixXd y = test::random_matrix<double>(2, 3, 26);
    bp::MSE<double> mse;
    const double expected = mse.forward(reference.forward(X), y);
    reference.backward(mse.backward());
    CHECK(std::abs(parallel.step(X, y) - expected) <= 1e-15);
    CHECK(test::relative_difference(gradients_of(net), gradients_of(reference)) <= 1e-14);
}

TEST_CASE("DataParallel: bad input throws naming the call and shapes, changing nothing",
          "[data_parallel][threads]") {
    Mlp net = make_mlp();
    CHECK_THROWS_WITH((bp::DataParallel<Mlp, bp::MSE<double>>(net, 0)),
                      "DataParallel: 0 threads, but a step needs at least 1");
    bp::DataParallel<Mlp, bp::MSE<double>> parallel(net, 2);
    parallel.set_min_rows(1);
    const auto X = test::random_matrix<double>(10, 6, 27);
    const Eigen::MatrixXd y = test::random_matrix<double>(10, 3, 28);
    parallel.step(X, y);
    const Eigen::VectorXd values = parameters_of(net);
    const Eigen::VectorXd gradients = gradients_of(net);

    CHECK_THROWS_WITH(parallel.step(X, Eigen::MatrixXd::Zero(9, 3)),
                      "DataParallel::step: X is 10x6 and the target 9x3, but X must be a "
                      "non-empty batch and the target must have one row (or label) per row of X");
    CHECK_THROWS_AS(parallel.step(Eigen::MatrixXd(0, 6), Eigen::MatrixXd(0, 3)),
                    std::invalid_argument);
    // The wrong width: the model's forward on shard 0 says so, before anything changes.
    CHECK_THROWS_WITH(parallel.step(Eigen::MatrixXd::Zero(10, 5), y),
                      "Sequential::forward: layer 0 takes 6 inputs but X has 5");
    CHECK_THROWS_WITH(parallel.step(X, Eigen::MatrixXd::Zero(10, 4)),
                      "MSE::forward: pred is 5x3 but target is 5x4");
    CHECK(parameters_of(net) == values);
    CHECK(gradients_of(net) == gradients);

    SECTION("a failure after the master's backward clears its gradients") {
        net.detect_anomalies(true);
        Eigen::MatrixXd bad = X;
        bad(9, 0) = std::numeric_limits<double>::quiet_NaN();  // in shard 1
        CHECK_THROWS_AS(parallel.step(bad, y), std::domain_error);
        CHECK_FALSE(net.has_gradients());
        CHECK(parameters_of(net) == values);
        bp::SGD<double> sgd(0.1);
        CHECK_THROWS_AS(sgd.step(net), std::logic_error);
        net.detect_anomalies(false);
    }
}

TEST_CASE("DataParallel: Dropout draws its own masks per shard, the same from run to run",
          "[data_parallel][threads]") {
    using Net = bp::Sequential<bp::Dense<double>, bp::Dropout<double>, bp::Dense<double>>;
    const auto make = [] {
        return Net(bp::Dense<double>(4, 32, 1), bp::Dropout<double>(0.5, 9),
                   bp::Dense<double>(32, 2, 2));
    };
    const auto X = test::random_matrix<double>(8, 4, 29);
    const Eigen::MatrixXd y = test::random_matrix<double>(8, 2, 30);
    const auto masks = [&](std::uint64_t seed) {
        Net net = make();
        bp::DataParallel<Net, bp::MSE<double>> parallel(net, 2, bp::MSE<double>(), seed);
        parallel.set_min_rows(1);
        parallel.step(X, y);
        return gradients_of(net);
    };
    CHECK(masks(1) == masks(1));
    CHECK(masks(1) != masks(2));  // shard 1's masks come from the seed
    Net net = make();
    net.set_mode(bp::Mode::eval);  // no masks: the mode reaches the replicas
    bp::DataParallel<Net, bp::MSE<double>> parallel(net, 2);
    parallel.set_min_rows(1);
    parallel.step(X, y);
    Net reference = make();
    reference.set_mode(bp::Mode::eval);
    bp::MSE<double> mse;
    mse.forward(reference.forward(X), y);
    reference.backward(mse.backward());
    CHECK(test::relative_difference(gradients_of(net), gradients_of(reference)) <= 1e-14);
}

TEST_CASE("DataParallel: a single layer as the model", "[data_parallel][threads]") {
    bp::Dense<double> layer(5, 4, 31);
    bp::Dense<double> reference = layer;
    const auto X = test::random_matrix<double>(9, 5, 32);
    const Eigen::MatrixXd y = test::random_matrix<double>(9, 4, 33);
    bp::DataParallel<bp::Dense<double>, bp::MSE<double>> parallel(layer, 3);
    parallel.set_min_rows(2);
    REQUIRE(parallel.shards(9) == 3);
    bp::MSE<double> mse;
    const double expected = mse.forward(reference.forward(X), y);
    reference.backward(mse.backward());
    CHECK(std::abs(parallel.step(X, y) - expected) <= 1e-14 * expected);
    CHECK(test::relative_difference(layer.gradients().dW, reference.gradients().dW) <= 1e-14);
    CHECK(test::relative_difference(layer.gradients().db, reference.gradients().db) <= 1e-14);
}
