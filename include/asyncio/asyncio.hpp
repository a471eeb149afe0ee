// The umbrella header: everything of asyncio-cpp.
#pragma once

#include "any_task.hpp"
#include "coro.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "executor.hpp"
#include "future.hpp"
#include "run.hpp"
#include "sleep.hpp"
#include "task.hpp"
