#include "modhost/module_host.h"

#include "common/async.h"

namespace aion::modhost {

boost::asio::awaitable<Result<CallResult>> ModuleHost::callAsync(
    std::string name, std::string input, CallOptions opts, boost::asio::any_io_executor pool) {
  auto run = [this, &name, &input, &opts] { return call(name, input, opts); };
  co_return co_await offload(pool, run);
}

}  // namespace aion::modhost
