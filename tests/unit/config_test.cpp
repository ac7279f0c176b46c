#include "app/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

namespace aion::app {
namespace {

Result<Config> load(std::map<std::string, std::string> vars) {
  return loadConfig(
      [&](const char* n) -> std::optional<std::string> {
        auto it = vars.find(n);
        if (it == vars.end()) return std::nullopt;
        return it->second;
      },
      "/opt/aion/bin");
}

TEST(Config, Defaults) {
  auto c = load({});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->gatewayPort, 8080);
  EXPECT_EQ(c->controlPort, 8000);
  EXPECT_EQ(c->tenancy, auth::TenancyMode::kSingle);
  EXPECT_EQ(c->policyDir, "policies");
  EXPECT_EQ(c->moduleDir, "/opt/aion/bin/modules");
  EXPECT_TRUE(c->apiKeys.empty());
  EXPECT_GE(c->workers, 2);
}

TEST(Config, ReadsEveryVariable) {
  auto c = load({{"AION_GATEWAY_PORT", "9090"},
                 {"AION_CONTROL_PORT", "9000"},
                 {"TENANCY_MODE", "multi"},
                 {"AION_GATEWAY_API_KEYS", "k:admin:t"},
                 {"AION_POLICY_DIR", "/p"},
                 {"AION_DATA_DIR", "/d"},
                 {"AION_LOG_LEVEL", "debug"},
                 {"AION_LOG_FORMAT", "json"},
                 {"AION_WORKERS", "3"},
                 {"AION_MAX_BODY_BYTES", "2048"},
                 {"AION_READ_TIMEOUT_MS", "500"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->gatewayPort, 9090);
  EXPECT_EQ(c->tenancy, auth::TenancyMode::kMulti);
  ASSERT_EQ(c->apiKeys.size(), 1u);
  EXPECT_EQ(c->apiKeys[0].tenant, "t");
  EXPECT_EQ(c->dataDir, "/d");
  EXPECT_EQ(c->logLevel, "debug");
  EXPECT_TRUE(c->logJson);
  EXPECT_EQ(c->workers, 3);
  EXPECT_EQ(c->maxBodyBytes, 2048u);
  EXPECT_EQ(c->readTimeout.count(), 500);
}

TEST(Config, BadValuesNameTheVariable) {
  std::pair<const char*, const char*> bad[] = {{"AION_GATEWAY_PORT", "abc"},
                                               {"AION_GATEWAY_PORT", "70000"},
                                               {"AION_GATEWAY_PORT", "-1"},
                                               {"AION_CONTROL_PORT", "80x"},
                                               {"TENANCY_MODE", "both"},
                                               {"AION_LOG_LEVEL", "loud"},
                                               {"AION_GATEWAY_API_KEYS", "bad"},
                                               {"AION_WORKERS", "0"},
                                               {"AION_MAX_BODY_BYTES", "1"},
                                               {"AION_READ_TIMEOUT_MS", "10s"},
                                               {"AION_DURABILITY", "maybe"},
                                               {"AION_MODEL_CONCURRENCY", "0"},
                                               {"AION_STORE_READERS", "100"},
                                               {"AION_WRITE_BEHIND_MS", "0"},
                                               {"KAFKA_BROKERS", "k"},
                                               {"AION_CONTROL_MONGO_DSN", "localhost:27017"},
                                               {"AION_CONTROL_QDRANT_URL", "qdrant:6333"},
                                               {"AION_CONTROL_QDRANT_URL", "http://"},
                                               {"AION_CONTROL_QDRANT_URL", "http://h:1?x=1"},
                                               {"AION_CONTROL_QDRANT_API_KEY", "k"},
                                               {"KAFKA_BROKERS", "k:1,k:99999"},
                                               {"KAFKA_BROKERS", "a:1,,b:2"},
                                               {"AION_STORE_SYNC", "off"},
                                               {"AION_MODULES_ALLOW_UNSIGNED", "yes"},
                                               {"AION_MODULE_HOST_GPUS", "a:b"},
                                               {"AION_MODULE_HOST_GPUS", ":100"},
                                               {"AION_MODULE_HOST_GPUS", "x:0"},
                                               {"AION_SANDBOX_ALLOW_WEAK", "maybe"},
                                               {"AION_LOG_FORMAT", "yaml"},
                                               {"AION_CONTROL_GRPC", "control"},
                                               {"AION_CONTROL_GRPC", "c:0"},
                                               {"AION_MODHOST_GRPC", "m:x"},
                                               {"AION_CONTROL_GRPC_PORT", "-1"},
                                               {"AION_MODHOST_PORT", "65536"},
                                               {"AION_CONTROL_GRPC_TIMEOUT_MS", "5"},
                                               {"AION_INTERNAL_TLS_CERT", "/nonexistent"},
                                               {"AION_CONTROL_LEASE_MS", "100"},
                                               {"AION_CONTROL_SHARE_AFTER_MS", "-5"},
                                               {"AION_CONTROL_SHARE_AFTER_MS", "soon"},
                                               {"AION_TASK_RETENTION_DAYS", "-1"},
                                               {"AION_TASK_RETENTION_DAYS", "30d"},
                                               {"AION_TASK_RETENTION_DAYS", "36501"},
                                               {"AION_TASK_RETENTION_EVERY_MS", "10"},
                                               {"AION_CONTROL_PLANE_ID", "two words"}};
  for (auto [var, value] : bad) {
    auto c = load({{var, value}});
    ASSERT_FALSE(c) << var << "=" << value;
    EXPECT_EQ(c.error().message.rfind(std::string(var) + ":", 0), 0u) << c.error().message;
  }
  auto same = load({{"AION_GATEWAY_PORT", "9000"}, {"AION_CONTROL_PORT", "9000"}});
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().message.rfind("AION_CONTROL_PORT:", 0), 0u);
}

TEST(Config, MongoDsnIsKeptForTheStoreToParse) {
  auto c = load({{"AION_CONTROL_MONGO_DSN", "mongodb://db:27017/aion?socketTimeoutMS=500"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->mongoDsn, "mongodb://db:27017/aion?socketTimeoutMS=500");
  EXPECT_TRUE(load({})->mongoDsn.empty());
}

TEST(Config, ControlPlaneIdAndLease) {
  // The default id names the host and the control port: a plane restarted in
  // place has the same id and takes its own tasks back at once.
  auto c = load({{"AION_CONTROL_PORT", "9000"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->planeId.ends_with(":9000")) << c->planeId;
  EXPECT_GT(c->planeId.size(), 5u);
  EXPECT_EQ(c->lease.count(), 10000);
  EXPECT_EQ(c->shareAfter.count(), 500);
  c = load({{"AION_CONTROL_PLANE_ID", "cp-a"},
            {"AION_CONTROL_LEASE_MS", "3000"},
            {"AION_CONTROL_SHARE_AFTER_MS", "0"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->planeId, "cp-a");
  EXPECT_EQ(c->lease.count(), 3000);
  EXPECT_EQ(c->shareAfter.count(), 0);  // sharing off
}

TEST(Config, TaskRetentionIsOffUnlessAsked) {
  auto d = load({});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->taskRetentionDays, 0);  // kept forever
  EXPECT_EQ(d->retentionEvery.count(), 3600000);
  auto c = load({{"AION_TASK_RETENTION_DAYS", "30"}, {"AION_TASK_RETENTION_EVERY_MS", "60000"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->taskRetentionDays, 30);
  EXPECT_EQ(c->retentionEvery.count(), 60000);
}

TEST(Config, DurabilityAndTheRequestPathKnobs) {
  auto d = load({});
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->openAiBehind);
  EXPECT_EQ(d->modelConcurrency, 1024u);
  EXPECT_EQ(d->storeReaders, 4);
  EXPECT_EQ(d->writeBehind, std::chrono::milliseconds(100));
  auto c = load({{"AION_DURABILITY", "async"},
                 {"AION_MODEL_CONCURRENCY", "64"},
                 {"AION_STORE_READERS", "2"},
                 {"AION_WRITE_BEHIND_MS", "20"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->openAiBehind);
  EXPECT_EQ(c->modelConcurrency, 64u);
  EXPECT_EQ(c->storeReaders, 2);
  EXPECT_EQ(c->writeBehind, std::chrono::milliseconds(20));
  auto kafka = load({{"KAFKA_BROKERS", "localhost:9092,[::1]:9093"}});
  ASSERT_TRUE(kafka) << kafka.error().message;
  EXPECT_EQ(kafka->kafkaBrokers, "localhost:9092,[::1]:9093");
  auto files = load({{"AION_EVENTS_DIR", "/var/lib/aion/events"}});
  ASSERT_TRUE(files) << files.error().message;
  EXPECT_EQ(files->eventsDir, "/var/lib/aion/events");
  // The outbox goes to one sink: both set is refused, naming the variable.
  auto both = load({{"KAFKA_BROKERS", "k:9092"}, {"AION_EVENTS_DIR", "/tmp/ev"}});
  ASSERT_FALSE(both);
  EXPECT_TRUE(both.error().message.starts_with("AION_EVENTS_DIR: ")) << both.error().message;
}

// The README's quick start copies .env.example to .env and dev-up.sh exports
// every line of it: empty values must mean "the default", and every value
// shown must be accepted.
TEST(Config, EnvExampleAsIsLoads) {
  std::ifstream in(std::string(AION_REPO_DIR) + "/.env.example");
  ASSERT_TRUE(in);
  std::map<std::string, std::string> vars;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    ASSERT_NE(eq, std::string::npos) << line;
    vars[line.substr(0, eq)] = line.substr(eq + 1);
  }
  EXPECT_GT(vars.size(), 30u);
  auto c = load(vars);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_GE(c->workers, 2);  // AION_WORKERS= (empty): the default
}

TEST(Config, ModuleTrustGpusAndStoreSync) {
  auto d = load({});
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->allowUnsigned);
  EXPECT_TRUE(d->storeSyncFull);
  EXPECT_FALSE(d->gpus);  // detect
  EXPECT_TRUE(d->trustedKeys.empty());
  auto c = load({{"AION_MODULES_ALLOW_UNSIGNED", "true"},
                 {"AION_STORE_SYNC", "normal"},
                 {"AION_MODULE_HOST_GPUS", "a100:40960,t4"},
                 {"AION_MODULE_TRUSTED_KEYS", "/k/a.pub,/k/dir"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->allowUnsigned);
  EXPECT_FALSE(c->storeSyncFull);
  ASSERT_TRUE(c->gpus);
  ASSERT_EQ(c->gpus->size(), 2u);
  EXPECT_EQ((*c->gpus)[0].memoryMb, 40960);
  EXPECT_EQ((*c->gpus)[1].name, "t4");
  EXPECT_EQ((*c->gpus)[1].memoryMb, 0);
  EXPECT_EQ(c->trustedKeys.size(), 2u);
  auto none = load({{"AION_MODULE_HOST_GPUS", "none"}});
  ASSERT_TRUE(none && none->gpus);
  EXPECT_TRUE(none->gpus->empty());
}

TEST(Config, QdrantUrlAndKey) {
  auto c = load({{"AION_CONTROL_QDRANT_URL", "https://vectors.internal:6334/qdrant"},
                 {"AION_CONTROL_QDRANT_API_KEY", "secret"}});
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->qdrantUrl);
  EXPECT_TRUE(c->qdrantUrl->tls);
  EXPECT_EQ(c->qdrantUrl->host, "vectors.internal");
  EXPECT_EQ(c->qdrantUrl->port, 6334);
  EXPECT_EQ(c->qdrantUrl->path, "/qdrant");
  EXPECT_EQ(c->qdrantApiKey, "secret");
  auto bad =
      load({{"AION_CONTROL_QDRANT_URL", "http://h:1"}, {"AION_CONTROL_QDRANT_API_KEY", "a\nb"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.find("secret"), std::string::npos);
  EXPECT_FALSE(load({})->qdrantUrl);
}

TEST(Config, TlsNeedsCertAndKeyTogether) {
  auto c = load({{"AION_TLS_CERT", "/c.pem"}, {"AION_TLS_KEY", "/k.pem"}});
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->tls);
  EXPECT_EQ(c->tls->cert, "/c.pem");
  EXPECT_FALSE(c->tls->clientCa);
  EXPECT_FALSE(load({})->tls);
  auto onlyCert = load({{"AION_TLS_CERT", "/c.pem"}});
  ASSERT_FALSE(onlyCert);
  EXPECT_EQ(onlyCert.error().message.rfind("AION_TLS_KEY:", 0), 0u);
  auto onlyKey = load({{"AION_TLS_KEY", "/k.pem"}});
  ASSERT_FALSE(onlyKey);
  EXPECT_EQ(onlyKey.error().message.rfind("AION_TLS_CERT:", 0), 0u);
  auto caAlone = load({{"AION_TLS_CLIENT_CA", "/ca.pem"}});
  ASSERT_FALSE(caAlone);
  EXPECT_EQ(caAlone.error().message.rfind("AION_TLS_CLIENT_CA:", 0), 0u);
  auto mtls =
      load({{"AION_TLS_CERT", "/c"}, {"AION_TLS_KEY", "/k"}, {"AION_TLS_CLIENT_CA", "/ca"}});
  ASSERT_TRUE(mtls && mtls->tls->clientCa);
}

}  // namespace
}  // namespace aion::app
