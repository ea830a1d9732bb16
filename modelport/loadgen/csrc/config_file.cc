#include "config_file.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "builtin_conf.h"
#include "test_settings.h"

namespace mlg {

namespace {

std::mutex g_pending_mu;
std::vector<std::string> g_pending_errors;
// Whether a conf_type=1 call has already loaded the built-in mlperf.conf.
bool g_builtin_loaded = false;
std::mutex g_builtin_mu;

void PendingError(const std::string& msg) {
  std::lock_guard<std::mutex> lock(g_pending_mu);
  g_pending_errors.push_back(msg);
}

using KeyValues = std::map<std::string, std::string>;

// Tokenises like the official parser: whitespace-separated `key = value`;
// a lone "#" token before the value ends the line; every token after "="
// must be a complete integer or floating-point number.
bool Parse(std::istream& in, KeyValues* kv) {
  std::string line;
  int line_nr = 0, errors = 0;
  while (std::getline(in, line)) {
    ++line_nr;
    std::istringstream tokens(line);
    std::string tok, key;
    int state = 0;  // 0: key, 1: '=', 2: value(s)
    while (tokens >> tok) {
      if (tok == "#" && state != 2) break;
      if (state == 2) {
        const char* begin = tok.c_str();
        char* end = nullptr;
        (void)std::strtoul(begin, &end, 0);
        if (end == begin + tok.size()) {
          (*kv)[key] = tok;
          continue;
        }
        (void)std::strtod(begin, &end);
        if (end == begin + tok.size()) {
          (*kv)[key] = tok;
          continue;
        }
        ++errors;
        PendingError("value needs to be integer or double, line=" + std::to_string(line_nr));
        break;
      }
      if (state == 1 && tok != "=") {
        ++errors;
        PendingError("expected 'key=value', line=" + std::to_string(line_nr));
        break;
      }
      if (state == 0) key = tok;
      ++state;
    }
  }
  return errors == 0;
}

class Lookup {
 public:
  Lookup(const KeyValues& kv, const std::string& model) : kv_(kv), model_(model) {}

  // Precedence: model.scenario.key, *.scenario.key, model.*.key, *.*.key.
  const std::string* Find(const std::string& scenario, const std::string& key) const {
    for (const std::string& candidate :
         {model_ + "." + scenario + "." + key, "*." + scenario + "." + key, model_ + ".*." + key,
          std::string("*.*.") + key}) {
      auto it = kv_.find(candidate);
      if (it != kv_.end()) return &it->second;
    }
    return nullptr;
  }
  bool U64(const std::string& scenario, const std::string& key, uint64_t* out, uint64_t mult = 1) const {
    const std::string* v = Find(scenario, key);
    if (!v) return false;
    *out = std::strtoull(v->c_str(), nullptr, 0) * mult;
    return true;
  }
  bool F64(const std::string& scenario, const std::string& key, double* out, double mult = 1.0) const {
    const std::string* v = Find(scenario, key);
    if (!v) return false;
    *out = std::strtod(v->c_str(), nullptr) * mult;
    return true;
  }
  bool Bool(const std::string& scenario, const std::string& key, bool* out) const {
    uint64_t v;
    if (!U64(scenario, key, &v)) return false;
    *out = v != 0;
    return true;
  }

 private:
  const KeyValues& kv_;
  std::string model_;
};

void Apply(TestSettings* s, const KeyValues& kv, const std::string& model, const std::string& scenario,
           bool is_mlperf_conf) {
  Lookup L(kv, model);
  uint64_t v;
  if (L.U64(scenario, "mode", &v)) {
    if (v <= 3) {
      s->mode = static_cast<TestMode>(v);
    } else {
      PendingError("Invalid value passed to Mode key in config.");
    }
  }
  // Seeds and the accuracy sampling probability belong to the rules: only the
  // built-in mlperf.conf may set them.
  if (is_mlperf_conf) {
    L.U64(scenario, "qsl_rng_seed", &s->qsl_rng_seed);
    L.U64(scenario, "sample_index_rng_seed", &s->sample_index_rng_seed);
    L.U64(scenario, "schedule_rng_seed", &s->schedule_rng_seed);
    L.F64(scenario, "accuracy_log_probability", &s->accuracy_log_probability, 0.01);
    L.Bool(scenario, "test05", &s->test05);
    L.U64(scenario, "test05_qsl_rng_seed", &s->test05_qsl_rng_seed);
    L.U64(scenario, "test05_sample_index_rng_seed", &s->test05_sample_index_rng_seed);
    L.U64(scenario, "test05_schedule_rng_seed", &s->test05_schedule_rng_seed);
  }
  L.Bool(scenario, "use_token_latencies", &s->use_token_latencies);
  if (s->use_token_latencies) {
    L.U64("Server", "ttft_latency", &s->server_ttft_latency, 1000 * 1000);
    L.U64("Server", "tpot_latency", &s->server_tpot_latency, 1000 * 1000);
  }
  L.Bool(scenario, "infer_token_latencies", &s->infer_token_latencies);
  L.U64(scenario, "token_latency_scaling_factor", &s->token_latency_scaling_factor);

  L.U64(scenario, "min_duration", &s->min_duration_ms);
  L.U64(scenario, "max_duration", &s->max_duration_ms);
  L.U64(scenario, "min_query_count", &s->min_query_count);
  L.U64(scenario, "max_query_count", &s->max_query_count);
  L.U64(scenario, "accuracy_log_rng_seed", &s->accuracy_log_rng_seed);
  L.U64(scenario, "accuracy_log_sampling_target", &s->accuracy_log_sampling_target);
  L.Bool(scenario, "print_timestamps", &s->print_timestamps);
  L.Bool(scenario, "performance_issue_unique", &s->performance_issue_unique);
  L.Bool(scenario, "performance_issue_same", &s->performance_issue_same);
  L.U64(scenario, "performance_issue_same_index", &s->performance_issue_same_index);
  L.U64(scenario, "performance_sample_count_override", &s->performance_sample_count_override);
  L.U64(scenario, "accuracy_sample_count_override", &s->accuracy_sample_count_override);
  L.Bool(scenario, "sample_concatenate_permutation", &s->sample_concatenate_permutation);

  L.F64("SingleStream", "target_latency_percentile", &s->single_stream_target_latency_percentile, 0.01);
  double ms;
  uint64_t ms_int;
  if (L.U64("SingleStream", "target_latency", &ms_int, 1000 * 1000)) {
    s->single_stream_expected_latency_ns = static_cast<double>(ms_int);
  }
  L.F64("MultiStream", "target_latency_percentile", &s->multi_stream_target_latency_percentile, 0.01);
  if (L.U64("MultiStream", "target_latency", &ms_int, 1000 * 1000)) {
    s->multi_stream_expected_latency_ns = static_cast<double>(ms_int);
  }
  L.U64("MultiStream", "samples_per_query", &s->multi_stream_samples_per_query);

  L.F64("Server", "target_latency_percentile", &s->server_target_latency_percentile, 0.01);
  L.U64("Server", "target_latency", &s->server_target_latency_ns, 1000 * 1000);
  L.F64("Server", "target_qps", &s->server_target_qps);
  L.Bool("Server", "coalesce_queries", &s->server_coalesce_queries);
  L.U64("Server", "max_async_queries", &s->server_max_async_queries);

  if (L.F64("Offline", "target_qps", &ms)) s->offline_expected_qps = ms;
}

int ApplyText(TestSettings* s, std::istream& in, const std::string& model, const std::string& scenario,
              bool is_mlperf_conf) {
  KeyValues kv;
  if (!Parse(in, &kv)) return -EINVAL;
  Apply(s, kv, model, scenario, is_mlperf_conf);
  return 0;
}

}  // namespace

std::vector<std::string> TakePendingConfigErrors() {
  std::lock_guard<std::mutex> lock(g_pending_mu);
  std::vector<std::string> out;
  out.swap(g_pending_errors);
  return out;
}

int TestSettings::FromConfig(const std::string& path, const std::string& model, const std::string& scenario,
                             int conf_type) {
  if (conf_type == 0 || conf_type == 1) {
    bool load_builtin = conf_type == 0;
    if (conf_type == 1) {
      std::lock_guard<std::mutex> lock(g_builtin_mu);
      if (!g_builtin_loaded) {
        load_builtin = true;
        g_builtin_loaded = true;
      } else {
        PendingError("Multiple conf files are used. This is not valid for official submission.");
      }
    }
    if (load_builtin) {
      std::istringstream builtin(BuiltinMlperfConf());
      int rc = ApplyText(this, builtin, model, scenario, true);
      if (rc != 0 || conf_type == 0) return rc;
    }
  }
  std::ifstream in(path);
  if (!in.is_open()) {
    PendingError("can't open file " + path);
    return -ENOENT;
  }
  return ApplyText(this, in, model, scenario, false);
}

}  // namespace mlg
