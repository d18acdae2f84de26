// Links backprop::mpi, the optional component for data-parallel training over MPI: rank 0's
// parameters broadcast to every rank. Built (not run: that needs mpiexec) when the target exists.
#include <backprop/distributed/mpi.hpp>
#include <backprop/layers/dense.hpp>

int main(int argc, char** argv) {
    namespace bp = backprop;
    bp::mpi::Environment mpi(argc, argv);
    return bp::mpi::run_or_abort(MPI_COMM_WORLD, [] {
        bp::mpi::DataParallel<double> parallel;
        bp::Dense<double> layer(5, 1, 1 + static_cast<std::uint64_t>(parallel.rank()));
        parallel.broadcast_parameters(layer);
        return 0;
    });
}
