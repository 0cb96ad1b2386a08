// Test-only: enough of CUDA to compile generated kernels as C++17 and run them on the CPU, so that machines without
// a GPU can check the generated source (syntax with g++ -fsyntax-only, numbers by running it). Never included by
// generated code. Blocks run one after another; the threads of a block are fibers (ucontext) that switch at
// __syncthreads, so static __shared__ memory and barriers behave as on the device (given block-uniform barriers,
// which is what CUDA requires too). Warp intrinsics are not provided: generated kernels do not use them.
// Order: blocks in index order and, between two barriers, threads in index order, unless the environment variable
// LC_EMU_SCHEDULE is a non-zero seed: then blocks run in a seeded random order and the threads of each barrier phase
// in a fresh random order. A kernel whose results depend on that order (a race between blocks, or between threads
// without a barrier) gives different results under different schedules, as it could on a GPU.
#pragma once
#include <ucontext.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <utility>
#include <vector>

struct lc_emu_dim3 { unsigned x = 1, y = 1, z = 1; };
static lc_emu_dim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __constant__ static const
#define __restrict__ __restrict
#define __launch_bounds__(...)

namespace lc_emu
{
struct Fiber
{
    ucontext_t ctx;
    std::vector<char> stack;
    bool done = false;
};

static ucontext_t scheduler;
static std::vector<Fiber> fibers;
static int current = -1;
static std::function<void()> body;
static long long barriers = 0;

// The schedule's random numbers (xorshift64*); state 0 = index order.
static unsigned long long schedule = 0;
static bool scheduleRead = false;
static void readSchedule()
{
    if (scheduleRead) return;
    scheduleRead = true;
    const char* e = std::getenv("LC_EMU_SCHEDULE");
    schedule = e ? std::strtoull(e, nullptr, 10) : 0;
}
static void shuffle(std::vector<unsigned>& v)
{
    if (schedule == 0) return;
    for (size_t i = v.size(); i > 1; --i)
    {
        schedule ^= schedule >> 12; schedule ^= schedule << 25; schedule ^= schedule >> 27;
        size_t j = (size_t)((schedule * 2685821657736338717ULL) % i);
        std::swap(v[i - 1], v[j]);
    }
}

static void entry()
{
    body();
    fibers[current].done = true; // returning resumes uc_link (the scheduler)
}

// Runs kernel<<<grid, block>>>(args...) to completion.
template <class K, class... A>
void launch(K kernel, unsigned grid, unsigned block, A... args)
{
    gridDim.x = grid;
    blockDim.x = block;
    if (fibers.size() < block) fibers.resize(block);
    body = [&] { kernel(args...); };
    readSchedule();
    std::vector<unsigned> blocks(grid), threads(block);
    std::iota(blocks.begin(), blocks.end(), 0u);
    shuffle(blocks);
    for (unsigned b : blocks)
    {
        blockIdx.x = b;
        for (unsigned t = 0; t < block; ++t)
        {
            Fiber& f = fibers[t];
            if (f.stack.empty()) f.stack.resize(256 * 1024);
            getcontext(&f.ctx);
            f.ctx.uc_stack.ss_sp = f.stack.data();
            f.ctx.uc_stack.ss_size = f.stack.size();
            f.ctx.uc_link = &scheduler;
            makecontext(&f.ctx, entry, 0);
            f.done = false;
        }
        bool live = true;
        while (live)
        {
            live = false;
            std::iota(threads.begin(), threads.end(), 0u);
            shuffle(threads);
            for (unsigned t : threads)
            {
                if (fibers[t].done) continue;
                current = (int)t;
                threadIdx.x = t;
                swapcontext(&scheduler, &fibers[t].ctx);
                if (!fibers[t].done) live = true;
            }
        }
    }
}
} // namespace lc_emu

static inline void __syncthreads()
{
    ++lc_emu::barriers;
    swapcontext(&lc_emu::fibers[lc_emu::current].ctx, &lc_emu::scheduler);
}

// Rounded single-precision operations (never contracted into FMAs on the device); the host compiler does not contract
// them either (x86-64 without -mfma), so they are the plain operations here. sinf, cosf, tanhf come from <cmath>.
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return std::sqrt(a); }
