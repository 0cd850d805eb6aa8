// fragscope::pools — everything: FixedPool, SharedFixedPool, ObjectPool, Recycler, PoolResource,
// SynchronizedPoolResource, PoolAllocator.
#pragma once

#include "fragscope/pools/fixed_pool.hpp"
#include "fragscope/pools/object_pool.hpp"
#include "fragscope/pools/options.hpp"
#include "fragscope/pools/pool_allocator.hpp"
#include "fragscope/pools/pool_resource.hpp"
#include "fragscope/pools/recycler.hpp"
#include "fragscope/pools/shared_pool.hpp"
