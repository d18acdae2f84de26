#pragma once
/// \file
/// A computational graph, drawn: tensors and the operations between them, written as Graphviz
/// DOT with each tensor's shape, value and gradient.

#include <Eigen/Core>

#include <algorithm>
#include <cstddef>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace backprop {

/// A record of one step through a network, for drawing: which tensors there were, which
/// operation made which, and each tensor's shape, value and gradient at that step.
///
/// The graph copies what it is given, as text, at the moment it is given: add a tensor after the
/// forward and backward passes whose numbers it should show. It draws; it computes nothing. Write
/// it with write_dot() and render it with Graphviz, e.g. `dot -Tsvg graph.dot -o graph.svg`.
///
/// Tensors are boxes (name, shape, value, gradient), operations are ellipses, and an arrow runs
/// from each input of an operation to it and from it to its output: the direction of the forward
/// pass. The backward pass runs the arrows the other way, and where a tensor has two outgoing
/// arrows its gradient is the sum of what comes back along both (\ref tutorial_dense_forks).
///
/// The pictures of \ref tutorial_two_layers "Tutorial 4" and \ref tutorial_digits "Tutorial 10"
/// are drawn by it.
class ComputationalGraph {
public:
    using Id = std::size_t;  ///< A node of the graph, as returned by tensor() and operation().

    /// At most this many rows and columns of a matrix are printed (then "…").
    explicit ComputationalGraph(Eigen::Index max_rows = 2, Eigen::Index max_cols = 3,
                                int digits = 4)
        : max_rows_(max_rows), max_cols_(max_cols), digits_(digits) {
        if (max_rows <= 0 || max_cols <= 0 || digits <= 0) {
            throw std::invalid_argument("ComputationalGraph: max_rows, max_cols and digits must "
                                        "be positive");
        }
    }

    /// A tensor with its value and its gradient ∂L/∂value, which must have the value's shape.
    /// Throws std::invalid_argument if the shapes differ.
    template <typename A, typename B>
    Id tensor(const std::string& name, const Eigen::MatrixBase<A>& value,
              const Eigen::MatrixBase<B>& gradient) {
        if (gradient.rows() != value.rows() || gradient.cols() != value.cols()) {
            throw std::invalid_argument("ComputationalGraph::tensor: the gradient of '" + name +
                                        "' is " + shape(gradient) + " but its value is " +
                                        shape(value));
        }
        return add(Node{name, shape(value), format(value), format(gradient), false, {}});
    }

    /// A tensor without a gradient: data or targets, which nothing differentiates.
    template <typename A>
    Id tensor(const std::string& name, const Eigen::MatrixBase<A>& value) {
        return add(Node{name, shape(value), format(value), "", false, {}});
    }

    /// An operation, e.g. "x·W1 + b1", that makes `output` from `inputs` (tensors added before).
    /// Throws std::invalid_argument for an id that is not a tensor of this graph.
    Id operation(const std::string& label, const std::vector<Id>& inputs, Id output) {
        for (Id id : inputs) {
            require_tensor(id, label);
        }
        require_tensor(output, label);
        const Id op = add(Node{label, "", "", "", true, inputs});
        nodes_[output].inputs.push_back(op);
        return op;
    }

    /// The graph in Graphviz's DOT language, drawn left to right.
    void write_dot(std::ostream& out) const {
        out << "digraph computation {\n"
            << "  rankdir=LR;\n"
            << "  node [fontname=\"Helvetica\", fontsize=11];\n";
        for (Id id = 0; id < nodes_.size(); ++id) {
            const Node& node = nodes_[id];
            out << "  n" << id;
            if (node.is_operation) {
                out << " [shape=ellipse, style=filled, fillcolor=\"#fdebd0\", label=<"
                    << escape(node.name) << ">];\n";
                continue;
            }
            out << " [shape=plaintext, label=<<table border=\"0\" cellborder=\"1\" "
                << "cellspacing=\"0\" cellpadding=\"3\">"
                << "<tr><td bgcolor=\"#d6eaf8\"><b>" << escape(node.name) << "</b> "
                << escape(node.shape) << "</td></tr>"
                << "<tr><td align=\"left\">value " << node.value << "</td></tr>";
            if (!node.gradient.empty()) {
                out << "<tr><td align=\"left\" bgcolor=\"#fadbd8\">grad " << node.gradient
                    << "</td></tr>";
            }
            out << "</table>>];\n";
        }
        for (Id id = 0; id < nodes_.size(); ++id) {
            for (Id input : nodes_[id].inputs) {
                out << "  n" << input << " -> n" << id << ";\n";
            }
        }
        out << "}\n";
    }

    /// write_dot() into a string.
    std::string dot() const {
        std::ostringstream out;
        write_dot(out);
        return out.str();
    }

private:
    struct Node {
        std::string name, shape, value, gradient;  // value and gradient: DOT-ready text
        bool is_operation;
        std::vector<Id> inputs;  // an operation's tensors, or a tensor's operation
    };

    Id add(Node node) {
        nodes_.push_back(std::move(node));
        return nodes_.size() - 1;
    }

    void require_tensor(Id id, const std::string& label) const {
        if (id >= nodes_.size() || nodes_[id].is_operation) {
            throw std::invalid_argument("ComputationalGraph::operation: '" + label +
                                        "' names node " + std::to_string(id) +
                                        ", which is not a tensor of this graph");
        }
    }

    template <typename A>
    static std::string shape(const Eigen::MatrixBase<A>& m) {
        return "(" + std::to_string(m.rows()) + ", " + std::to_string(m.cols()) + ")";
    }

    static std::string escape(const std::string& text) {
        std::string out;
        for (char c : text) {
            switch (c) {
                case '&': out += "&amp;"; break;
                case '<': out += "&lt;"; break;
                case '>': out += "&gt;"; break;
                case '"': out += "&quot;"; break;
                default: out += c;
            }
        }
        return out;
    }

    // The first max_rows × max_cols numbers, a row per line, "…" where some were left out.
    template <typename A>
    std::string format(const Eigen::MatrixBase<A>& m) const {
        std::ostringstream out;
        out << std::setprecision(digits_);
        for (Eigen::Index r = 0; r < std::min(m.rows(), max_rows_); ++r) {
            out << (r == 0 ? "[" : "<br align=\"left\"/>      ");
            for (Eigen::Index c = 0; c < std::min(m.cols(), max_cols_); ++c) {
                out << (c == 0 ? "" : ", ") << double(m(r, c));
            }
            out << (m.cols() > max_cols_ ? ", …" : "");
        }
        out << (m.rows() > max_rows_ ? "<br align=\"left\"/>       …]" : "]");
        return out.str();
    }

    std::vector<Node> nodes_;
    Eigen::Index max_rows_, max_cols_;
    int digits_;
};

}  // namespace backprop
