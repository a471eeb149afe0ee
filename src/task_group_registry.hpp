// The live task groups of this thread, for task dumps (a group's children hang under its parent).
#pragma once

#include <asyncio/detail/task_core.hpp>
#include <utility>
#include <vector>

namespace asyncio::detail {

/// (parent, running children) of every live task group of `loop`.
std::vector<std::pair<const task_core*, std::vector<const task_core*>>> task_group_edges(
    const loop_core* loop);

}  // namespace asyncio::detail
