// Checks backprop::ComputationalGraph (include/backprop/io/graphviz.hpp): the DOT text of a
// two-node graph, character for character; names that DOT would misread are escaped; bad input
// throws. CI runs it with the examples; exits non-zero on the first difference.
#include <backprop/io/graphviz.hpp>

#include <iostream>
#include <stdexcept>
#include <string>

int main() {
    bool ok = true;
    backprop::ComputationalGraph graph(1, 2, 3);
    Eigen::MatrixXd a(2, 3), da(2, 3);
    a << 1, 2, 3, 4, 5, 6;
    da << 0.5, -0.25, 1.0 / 3, 0, 0, 0;
    const auto in = graph.tensor("a<b&c", a, da);
    const auto out = graph.tensor("s", Eigen::MatrixXd::Constant(1, 1, 21.0));
    graph.operation("sum", {in}, out);
    const std::string expected =
        "digraph computation {\n"
        "  rankdir=LR;\n"
        "  node [fontname=\"Helvetica\", fontsize=11];\n"
        "  n0 [shape=plaintext, label=<<table border=\"0\" cellborder=\"1\" cellspacing=\"0\" "
        "cellpadding=\"3\"><tr><td bgcolor=\"#d6eaf8\"><b>a&lt;b&amp;c</b> (2, 3)</td></tr>"
        "<tr><td align=\"left\">value [1, 2, …<br align=\"left\"/>       …]</td></tr>"
        "<tr><td align=\"left\" bgcolor=\"#fadbd8\">grad [0.5, -0.25, …<br align=\"left\"/>"
        "       …]</td></tr></table>>];\n"
        "  n1 [shape=plaintext, label=<<table border=\"0\" cellborder=\"1\" cellspacing=\"0\" "
        "cellpadding=\"3\"><tr><td bgcolor=\"#d6eaf8\"><b>s</b> (1, 1)</td></tr>"
        "<tr><td align=\"left\">value [21]</td></tr></table>>];\n"
        "  n2 [shape=ellipse, style=filled, fillcolor=\"#fdebd0\", label=<sum>];\n"
        "  n2 -> n1;\n"
        "  n0 -> n2;\n"
        "}\n";
    if (graph.dot() != expected) {
        std::cout << "the DOT text differs; it is:\n" << graph.dot();
        ok = false;
    }
    auto throws = [](auto&& f) {
        try {
            f();
        } catch (const std::invalid_argument& e) {
            std::cout << "throws: " << e.what() << "\n";
            return true;
        }
        return false;
    };
    ok &= throws([&] { graph.tensor("bad", a, Eigen::MatrixXd::Zero(3, 2)); });
    ok &= throws([&] { graph.operation("op", {2}, out); });  // node 2 is an operation
    ok &= throws([&] { graph.operation("op", {in}, 99); });
    std::cout << (ok ? "the graph is written as expected\n" : "THE GRAPH IS WRONG\n");
    return ok ? 0 : 1;
}
