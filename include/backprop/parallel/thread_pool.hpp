#pragma once
/// \file
/// ThreadPool: a fixed set of threads, created once, that run one task on indices 0..n−1.

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace backprop {

/// T threads that run `task(index)` for index = 0, 1, …, n − 1 (n ≤ T) and return when every
/// index has finished: T − 1 worker threads, created by the constructor and kept until the
/// destructor, plus the thread that calls run(), which runs index 0 itself.
///
/// Made for a training loop, where the same task runs thousands of times:
/// - run() allocates nothing: the task is passed by reference, as a pointer to it and a pointer
///   to a function that calls it (no std::function), and every slot it needs exists already;
/// - index i always runs on the same thread (worker i, or the caller for 0), so what a task
///   keeps per index (buffers, a replica of a model) stays warm in that core's cache;
/// - waiting threads sleep on a condition variable rather than spin: on a machine shared with
///   other jobs, spinning threads take the cores the work needs.
///
/// Exceptions: an exception thrown by task(i) is caught on its thread; run() waits for every
/// other index to finish (none is interrupted), then rethrows the exception of the smallest
/// index that threw, so that the same failure gives the same message whatever the timing.
///
/// One run() at a time: the pool is not reentrant (a task must not call run() on its own pool),
/// and two threads must not call run() at once; either throws std::logic_error. The target
/// backprop::backprop links the platform's threads (Threads::Threads).
class ThreadPool {
public:
    /// A pool of `threads` threads in all: starts threads − 1 workers. Throws
    /// std::invalid_argument, starting nothing, unless threads ≥ 1.
    explicit ThreadPool(int threads) {
        if (threads < 1) {
            throw std::invalid_argument("ThreadPool: " + std::to_string(threads) +
                                        " threads, but a pool needs at least 1");
        }
        errors_.resize(static_cast<std::size_t>(threads));
        workers_.reserve(static_cast<std::size_t>(threads - 1));
        try {
            for (int index = 1; index < threads; ++index) {
                workers_.emplace_back([this, index] { work(index); });
            }
        } catch (...) {
            stop();
            throw;
        }
    }

    ThreadPool(const ThreadPool&) = delete;             ///< The threads belong to one pool.
    ThreadPool& operator=(const ThreadPool&) = delete;  ///< The threads belong to one pool.

    /// Wakes every worker and joins it. A run() in progress has finished before (run() returns
    /// only when its indices have).
    ~ThreadPool() { stop(); }

    /// T: the number of indices a run() can have, counting the caller's.
    int size() const { return static_cast<int>(workers_.size()) + 1; }

    /// task(index) for index = 0, …, count − 1, index 0 on the calling thread and index i on
    /// worker i, all at once; returns when all have returned. Rethrows the exception of the
    /// smallest index that threw, after every index has finished. Allocates nothing (unless a
    /// task throws). With count = 1, task(0) runs on the caller and no worker is woken.
    ///
    /// Throws std::invalid_argument unless 1 ≤ count ≤ size(), std::logic_error if another
    /// run() of this pool is in progress; either way before any task starts.
    template <typename Task>
    void run(int count, Task&& task) {
        if (count < 1 || count > size()) {
            throw std::invalid_argument("ThreadPool::run: " + std::to_string(count) +
                                        " indices, but the pool runs 1 to " +
                                        std::to_string(size()));
        }
        using Callable = std::remove_reference_t<Task>;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (running_) {
                throw std::logic_error("ThreadPool::run: called while a run of this pool is in "
                                       "progress (from one of its tasks, or another thread)");
            }
            running_ = true;
            task_ = const_cast<void*>(static_cast<const void*>(std::addressof(task)));
            invoke_ = [](void* callable, int index) { (*static_cast<Callable*>(callable))(index); };
            count_ = count;
            pending_ = count - 1;
            ++generation_;
        }
        if (count > 1) {
            start_.notify_all();
        }
        execute(0);
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [this] { return pending_ == 0; });
        running_ = false;
        for (int index = 0; index < count; ++index) {
            auto& error = errors_[static_cast<std::size_t>(index)];
            if (error) {
                const std::exception_ptr first = error;
                for (auto& e : errors_) {
                    e = nullptr;
                }
                std::rethrow_exception(first);
            }
        }
    }

private:
    // Runs index `index` of the current task, keeping what it throws.
    void execute(int index) {
        try {
            invoke_(task_, index);
        } catch (...) {
            errors_[static_cast<std::size_t>(index)] = std::current_exception();
        }
    }

    // Worker `index`: sleeps until a run() with a new generation (or stop), runs its index if
    // the run has one, and reports.
    void work(int index) {
        std::uint64_t seen = 0;
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            start_.wait(lock, [&] { return stopping_ || generation_ != seen; });
            if (stopping_) {
                return;
            }
            seen = generation_;
            if (index >= count_) {
                continue;
            }
            lock.unlock();
            execute(index);
            lock.lock();
            if (--pending_ == 0) {
                done_.notify_one();
            }
        }
    }

    void stop() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        start_.notify_all();
        for (auto& worker : workers_) {
            worker.join();
        }
        workers_.clear();
    }

    std::mutex mutex_;                  // guards everything below but errors_ and workers_
    std::condition_variable start_;     // a new run (generation_) or stopping_
    std::condition_variable done_;      // pending_ reached 0
    std::uint64_t generation_ = 0;      // how many run()s have started
    void* task_ = nullptr;              // the task of the current run
    void (*invoke_)(void*, int) = nullptr;  // calls *task_ with an index
    int count_ = 0;                     // the indices of the current run
    int pending_ = 0;                   // the workers' indices not yet finished
    bool running_ = false;
    bool stopping_ = false;
    std::vector<std::exception_ptr> errors_;  // by index; each written by its own thread only
    std::vector<std::thread> workers_;        // worker i is workers_[i − 1]
};

}  // namespace backprop
