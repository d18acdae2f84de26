// The seed notebook's numpy operations, each written with Eigen as the library writes them, and
// run: every line of the notebook's network, gradients and update, with its numpy original in the
// comment beside it. Prints the shapes the notebook printed; exits non-zero if one differs, or if
// the gradients differ from the library's Dense and MSE (docs/numpy_to_eigen.md).
#include <backprop/backprop.hpp>

#include <iostream>

namespace bp = backprop;
using Eigen::MatrixXd;
using Eigen::RowVectorXd;

int main() {
    bool ok = true;
    auto shape = [&](const char* name, const MatrixXd& m, Eigen::Index rows, Eigen::Index cols) {
        std::cout << name << ".shape  (" << m.rows() << ", " << m.cols() << ")\n";
        ok &= m.rows() == rows && m.cols() == cols;
    };

    // [notebook]
    std::srand(7);
    MatrixXd x = (MatrixXd::Random(10, 5).array() + 1) / 2;      // x = np.random.rand(10,5)
    MatrixXd true_w(5, 1);
    true_w << 0.8, 0.3, 0.75, 0.5, 0.2;
    MatrixXd y = (x * true_w).array() + 0.43;                     // y = x @ [[0.8], ...] + 0.43
    MatrixXd w1 = (MatrixXd::Random(5, 5).array() + 1) / 2;       // w1 = np.random.rand(5,5)
    RowVectorXd b1 = (RowVectorXd::Random(5).array() + 1) / 2;    // b1 = np.random.rand(5)
    MatrixXd w2 = (MatrixXd::Random(5, 1).array() + 1) / 2;       // w2 = np.random.rand(5,1)
    RowVectorXd b2 = (RowVectorXd::Random(1).array() + 1) / 2;    // b2 = np.random.rand(1)

    MatrixXd z1 = (x * w1).rowwise() + b1;                        // z1 = x @ w1 + b1
    MatrixXd z2 = (z1 * w2).rowwise() + b2;                       // z2 = z1 @ w2 + b2
    const double n = double(z2.rows());                           // len(z2)
    double loss = (z2 - y).array().square().sum() / n;            // np.mean((z2 - y)**2)
    MatrixXd dz2 = (z2 - y) * (2 / n);                            // (z2 - y)*(2/len(z2))
    MatrixXd dw2 = z1.transpose() * dz2;                          // z1.transpose() @ dz2
    RowVectorXd db2 = dz2.colwise().sum();                        // np.sum(dz2, axis=0, keepdims=True)
    MatrixXd dz1 = dz2 * w2.transpose();                          // dz2 @ w2.transpose()
    MatrixXd dw1 = x.transpose() * dz1;                           // x.transpose() @ dz1
    RowVectorXd db1 = dz1.colwise().sum();                        // np.sum(dz1, axis=0, keepdims=True)
    MatrixXd dx = dz1 * w1.transpose();                           // dz1 @ w1.transpose()

    const double lr = 0.1;
    w2 -= lr * dw2;                                               // w2 = w2 - lr*dw2
    b2 -= lr * db2;                                               // b2 = b2 - lr*db2
    w1 -= lr * dw1;                                               // w1 = w1 - lr*dw1
    b1 -= lr * db1;                                               // b1 = b1 - lr*db1
    // [notebook]
    shape("y ", y, 10, 1);
    shape("z1", z1, 10, 5);
    shape("z2", z2, 10, 1);
    shape("dz1", dz1, 10, 5);
    shape("dx", dx, 10, 5);

    // The same numbers from the library, from the parameters before the update.
    bp::Dense<double> layer1(5, 5), layer2(5, 1);
    layer1.W = w1 + lr * dw1;
    layer1.b = b1 + lr * db1;
    layer2.W = w2 + lr * dw2;
    layer2.b = b2 + lr * db2;
    bp::MSE<double> mse;
    const double L = mse.forward(layer2.forward(layer1.forward(x)), y);
    const auto& g2 = layer2.backward(mse.backward());
    const auto& g1 = layer1.backward(g2.dX);
    const bool same = std::abs(L - loss) < 1e-12 && g2.dW.isApprox(dw2) && g2.db.isApprox(db2) &&
                      g1.dW.isApprox(dw1) && g1.db.isApprox(db1) && g1.dX.isApprox(dx);
    std::cout << "loss " << loss << "; " << (same ? "the same loss and gradients as Dense and MSE"
                                                  : "DIFFERENT FROM THE LIBRARY") << "\n";
    return ok && same ? 0 : 1;
}
