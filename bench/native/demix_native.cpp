// demix_native: run a demix-mobile ExecuTorch program (.pte) over a whole song, without Python.
//
//   demix_native MODEL.pte INPUT [--raw] [--threads N] [--workspace private|model|global]
//                [--out STEMS.f32] [--verbose]
//
// --workspace: XNNPACK's workspace (the activations inside its delegate calls) per delegate
// call, per program or per process; default the runtime's (the 1.5.1 wheel: per process). The
// report's "xnnpack_workspace" says which one ran.
//
// A measuring tool (ms per chunk, real-time factor, peak RSS) and the seed of a JNI bridge. It
// follows docs/contract.md: the chunk geometry and stem names come from the program's own
// `get_metadata` method, the chunk plan is the reference runner's (mobile_core chunking,
// `plan_chunks`), every chunk's kept middle is written straight to the output file.
//
// Memory is flat in the song's length: the input is read chunk by chunk from the file (pread),
// the stems are written chunk by chunk (pwrite into their place), and nothing of the song is held
// beyond one chunk of input and the program's own buffers.
//
// INPUT: a WAV file (RIFF/WAVE; IEEE float 32, or integer PCM 16/24/32; mono or stereo; at the
// model's sample rate: this tool has no resampler) or, with --raw, headerless little-endian
// float32 interleaved stereo at the model's rate.
//
// --out: raw little-endian float32, planar [S][2][N] (stem-major, then channel, then sample; S
// stems in the metadata's order, N the input's frame count), no header.
//
// stdout: one JSON line at the end (see README.md). Errors: one line on stderr, exit status 1
// (2 for bad command-line usage).

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/backend/interface.h>
#include <executorch/runtime/backend/options.h>
#include <executorch/runtime/platform/platform.h>
#include <executorch/runtime/platform/runtime.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// The wheel ships libexecutorch_threadpool.so but not threadpool.h: declare the two members we
// call. They are non-virtual and we never construct the class, so its layout does not matter; the
// mangled names match the library's exported symbols (checked with nm -DC).
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

namespace {

using executorch::extension::Module;
using executorch::runtime::Error;
using executorch::runtime::EValue;

// ----------------------------------------------------------------------------------------------
// Errors and runtime log capture

struct Fail : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool g_verbose = false;
std::vector<std::string> g_log;  // the runtime's recent log lines (shown with --verbose)

void capture_log(et_timestamp_t, et_pal_log_level_t level, const char* filename,
                 const char* function, size_t line, const char* message, size_t length) {
  (void)filename;
  (void)function;
  (void)line;
  std::string msg(message, length);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  if (g_verbose) std::fprintf(stderr, "[executorch %c] %s\n", static_cast<char>(level), msg.c_str());
  if (level == kError || level == kFatal) {
    g_log.push_back(msg);
    if (g_log.size() > 32) g_log.erase(g_log.begin());
  }
}

// The runtime's last error log line, as a parenthesised suffix for our one-line error.
std::string last_log() {
  if (g_log.empty()) return "";
  std::string s = g_log.back();
  for (char& c : s)  // one printable line, whatever bytes a damaged file put into the message
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return ": " + s;
}

std::string err_hex(Error e) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "error 0x%x", static_cast<unsigned>(e));
  return buf;
}

// ----------------------------------------------------------------------------------------------
// A small JSON reader (the metadata is one flat object with two nested ones)

struct Json {
  enum Type { Null, Bool, Number, String, Array, Object } type = Null;
  bool boolean = false;
  double number = 0;
  std::string str;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> fields;

  const Json* get(const std::string& key) const {
    for (const auto& f : fields)
      if (f.first == key) return &f.second;
    return nullptr;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : s_(text) {}

  Json parse() {
    Json v = value();
    ws();
    if (i_ != s_.size()) bad("trailing characters");
    return v;
  }

 private:
  const std::string& s_;
  size_t i_ = 0;
  int depth_ = 0;

  [[noreturn]] void bad(const char* what) {
    throw Fail(std::string("metadata is not valid JSON (") + what + " at byte " +
               std::to_string(i_) + ")");
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) bad("unexpected character");
  }
  bool literal(const char* word) {
    size_t n = std::strlen(word);
    if (s_.compare(i_, n, word) == 0) {
      i_ += n;
      return true;
    }
    return false;
  }
  static void utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  uint32_t hex4() {
    if (i_ + 4 > s_.size()) bad("short \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else bad("bad \\u escape");
    }
    return v;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (true) {
      if (i_ >= s_.size()) bad("unterminated string");
      char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) bad("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) bad("unterminated escape");
      char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && s_.compare(i_, 2, "\\u") == 0) {
            i_ += 2;
            uint32_t lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) bad("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          utf8(out, cp);
          break;
        }
        default: bad("bad escape");
      }
    }
  }
  Json value() {
    if (++depth_ > 64) bad("nesting too deep");
    ws();
    if (i_ >= s_.size()) bad("unexpected end");
    Json v;
    char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.type = Json::Object;
      if (!eat('}')) {
        do {
          ws();
          std::string key = string();
          expect(':');
          v.fields.emplace_back(key, value());
        } while (eat(','));
        expect('}');
      }
    } else if (c == '[') {
      ++i_;
      v.type = Json::Array;
      if (!eat(']')) {
        do v.items.push_back(value());
        while (eat(','));
        expect(']');
      }
    } else if (c == '"') {
      v.type = Json::String;
      v.str = string();
    } else if (literal("true")) {
      v.type = Json::Bool;
      v.boolean = true;
    } else if (literal("false")) {
      v.type = Json::Bool;
    } else if (literal("null")) {
      v.type = Json::Null;
    } else {
      const char* begin = s_.c_str() + i_;
      char* end = nullptr;
      v.type = Json::Number;
      v.number = std::strtod(begin, &end);
      if (end == begin) bad("unexpected character");
      i_ += static_cast<size_t>(end - begin);
    }
    --depth_;
    return v;
  }
};

// ----------------------------------------------------------------------------------------------
// The artifact's metadata (docs/contract.md, "Metadata") and the chunk plan ("The chunk plan")

struct Meta {
  std::string json;
  int64_t sample_rate = 0, chunk = 0, context = 0, lookahead = 0, hop = 0, channels = 0;
  std::vector<std::string> stems;
  std::string config, model_id, quantization;
};

int64_t int_field(const Json& obj, const char* key) {
  const Json* v = obj.get(key);
  if (!v || v->type != Json::Number || v->number != std::floor(v->number) ||
      std::fabs(v->number) > 9.0e15)
    throw Fail(std::string("metadata field '") + key + "' is missing or not an integer");
  return static_cast<int64_t>(v->number);
}

std::string str_field(const Json& obj, const char* key, bool required = true) {
  const Json* v = obj.get(key);
  if (!v || v->type != Json::String) {
    if (required) throw Fail(std::string("metadata field '") + key + "' is missing or not a string");
    return "";
  }
  return v->str;
}

Meta parse_meta(const std::string& text) {
  Json j = JsonParser(text).parse();
  if (j.type != Json::Object) throw Fail("metadata is not a JSON object");
  Meta m;
  m.json = text;
  if (str_field(j, "format") != "demix-mobile-artifact")
    throw Fail("metadata format is not 'demix-mobile-artifact'");
  if (int_field(j, "format_version") != 1)
    throw Fail("unsupported metadata format_version " + std::to_string(int_field(j, "format_version")) +
               " (this program reads version 1)");
  if (str_field(j, "kind") != "pte")
    throw Fail("metadata kind is '" + str_field(j, "kind") + "', not 'pte'");
  m.sample_rate = int_field(j, "sample_rate");
  m.chunk = int_field(j, "chunk");
  m.context = int_field(j, "context");
  m.lookahead = int_field(j, "lookahead");
  m.hop = int_field(j, "hop");
  m.channels = int_field(j, "channels");
  m.config = str_field(j, "config", false);
  m.model_id = str_field(j, "model_id", false);
  m.quantization = str_field(j, "quantization", false);
  const Json* stems = j.get("stems");
  if (!stems || stems->type != Json::Array || stems->items.empty())
    throw Fail("metadata field 'stems' is missing or not a non-empty list");
  std::set<std::string> seen;
  for (const Json& s : stems->items) {
    if (s.type != Json::String || s.str.empty() || !seen.insert(s.str).second)
      throw Fail("metadata 'stems' must be distinct non-empty names");
    m.stems.push_back(s.str);
  }
  if (m.hop < 1) throw Fail("metadata hop must be >= 1");
  if (m.chunk % m.hop || m.context % m.hop || m.lookahead % m.hop || m.context < 0 || m.lookahead < 0)
    throw Fail("metadata chunk, context and lookahead must be non-negative multiples of hop");
  if (m.chunk - m.context - m.lookahead < m.hop)
    throw Fail("metadata chunk - context - lookahead must be at least one hop");
  if (m.channels != 2) throw Fail("metadata channels must be 2");
  if (m.sample_rate < 8000 || m.sample_rate > 192000)
    throw Fail("metadata sample_rate outside 8000-192000 Hz");
  return m;
}

struct Chunk {
  int64_t start, keep_from, keep_to;
};

// Slices the transform emits for n samples: S = (ceil(n / q) + 1) // 2 + 1, q = (2h) // 4.
int64_t n_slices(int64_t n, int64_t hop) {
  int64_t q = (2 * hop) / 4;
  if (q < 1) throw Fail("hop too small for the slice rule");
  int64_t quarters = (n + q - 1) / q;
  return (quarters + 1) / 2 + 1;
}

std::vector<Chunk> plan_chunks(int64_t n, const Meta& m) {
  const int64_t h = m.hop, len = m.chunk / h, cl = m.context / h, cr = m.lookahead / h;
  const int64_t stepq = len - cl - cr;
  const int64_t s = n_slices(n, h);
  if (s - 1 <= len) return {{0, 0, n}};
  std::vector<Chunk> plan;
  int64_t end = 0, k = 0;
  while (k + len < s - 1) {
    int64_t keep_from = k == 0 ? 0 : (k + cl) * h;
    end = (k + len - cr) * h;
    plan.push_back({k * h, keep_from, end});
    k += stepq;
  }
  plan.push_back({(s - 1 - len) * h, end, n});
  return plan;
}

// ----------------------------------------------------------------------------------------------
// Input: a WAV or raw float32 file, read by frame range with pread (nothing kept in memory)

uint16_t le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

class AudioReader {
 public:
  enum class Sample { F32, I16, I24, I32 };

  AudioReader(const std::string& path, bool raw, int64_t raw_rate) : path_(path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) throw Fail(path + ": " + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) throw Fail(path + ": is a folder, not an audio file");
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw Fail(path + ": " + std::strerror(errno));
    size_ = st.st_size;
    if (raw) {
      if (size_ % 8 != 0)
        throw Fail(path + ": raw input must be whole float32 stereo frames (8 bytes each); the "
                          "size is " + std::to_string(size_) + " bytes");
      channels_ = 2;
      sample_ = Sample::F32;
      bytes_ = 4;
      rate_ = raw_rate;
      data_offset_ = 0;
      frames_ = size_ / 8;
    } else {
      parse_wav();
    }
  }
  ~AudioReader() {
    if (fd_ >= 0) close(fd_);
  }
  AudioReader(const AudioReader&) = delete;
  AudioReader& operator=(const AudioReader&) = delete;

  int64_t frames() const { return frames_; }
  int64_t rate() const { return rate_; }
  int channels() const { return channels_; }
  const char* describe() const {
    switch (sample_) {
      case Sample::F32: return "float32";
      case Sample::I16: return "pcm16";
      case Sample::I24: return "pcm24";
      default: return "pcm32";
    }
  }

  // Frames [start, start + count) into planar left/right (mono is copied to both sides).
  void read(int64_t start, int64_t count, float* left, float* right) {
    const int64_t frame_bytes = static_cast<int64_t>(bytes_) * channels_;
    const int64_t block = 16384;
    buf_.resize(static_cast<size_t>(block * frame_bytes));
    for (int64_t done = 0; done < count;) {
      const int64_t n = std::min(block, count - done);
      const size_t want = static_cast<size_t>(n * frame_bytes);
      off_t at = static_cast<off_t>(data_offset_ + (start + done) * frame_bytes);
      size_t got = 0;
      while (got < want) {
        ssize_t r = pread(fd_, buf_.data() + got, want - got, at + static_cast<off_t>(got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw Fail(path_ + ": read failed: " + std::strerror(errno));
        if (r == 0) throw Fail(path_ + ": the file ends early (truncated while reading?)");
        got += static_cast<size_t>(r);
      }
      const unsigned char* p = buf_.data();
      for (int64_t f = 0; f < n; ++f) {
        float v[2] = {0.0f, 0.0f};
        for (int c = 0; c < channels_; ++c, p += bytes_) {
          float x;
          switch (sample_) {
            case Sample::F32: {
              uint32_t u = le32(p);
              std::memcpy(&x, &u, 4);
              break;
            }
            case Sample::I16: x = static_cast<float>(static_cast<int16_t>(le16(p))) / 32768.0f; break;
            case Sample::I24: {
              int32_t i = static_cast<int32_t>((static_cast<uint32_t>(p[0]) << 8) |
                                               (static_cast<uint32_t>(p[1]) << 16) |
                                               (static_cast<uint32_t>(p[2]) << 24)) >> 8;
              x = static_cast<float>(i) / 8388608.0f;
              break;
            }
            default: x = static_cast<float>(static_cast<double>(static_cast<int32_t>(le32(p))) / 2147483648.0);
          }
          if (!std::isfinite(x))
            throw Fail(path_ + ": sample at frame " + std::to_string(start + done + f) +
                       ", channel " + std::to_string(c) + " is NaN or infinite");
          v[c] = x;
        }
        left[done + f] = v[0];
        right[done + f] = channels_ == 2 ? v[1] : v[0];
      }
      done += n;
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  int64_t size_ = 0, data_offset_ = 0, frames_ = 0, rate_ = 0;
  int channels_ = 0, bytes_ = 0;
  Sample sample_ = Sample::F32;
  std::vector<unsigned char> buf_;

  [[noreturn]] void bad(const std::string& why) { throw Fail(path_ + ": not a readable WAV file (" + why + ")"); }

  void read_exact(int64_t at, unsigned char* out, size_t n) {
    size_t got = 0;
    while (got < n) {
      ssize_t r = pread(fd_, out + got, n - got, static_cast<off_t>(at) + static_cast<off_t>(got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) bad("header cut short");
      got += static_cast<size_t>(r);
    }
  }

  void parse_wav() {
    unsigned char h[12];
    if (size_ < 12) bad("too short for a RIFF header");
    read_exact(0, h, 12);
    if (std::memcmp(h, "RIFF", 4) != 0 || std::memcmp(h + 8, "WAVE", 4) != 0)
      bad(std::memcmp(h, "RF64", 4) == 0 ? "RF64 is not supported" : "no RIFF/WAVE header");
    bool have_fmt = false, have_data = false;
    int64_t data_size = 0;
    uint16_t tag = 0, bits = 0, align = 0;
    uint32_t rate = 0;
    int64_t at = 12;
    while (at + 8 <= size_ && !(have_fmt && have_data)) {
      unsigned char ch[8];
      read_exact(at, ch, 8);
      int64_t n = le32(ch + 4);
      const int64_t body = at + 8;
      if (std::memcmp(ch, "fmt ", 4) == 0) {
        if (n < 16 || n > 4096) bad("bad fmt chunk size");
        unsigned char f[4096];
        read_exact(body, f, static_cast<size_t>(std::min<int64_t>(n, size_ - body)));
        tag = le16(f);
        channels_ = le16(f + 2);
        rate = le32(f + 4);
        align = le16(f + 12);
        bits = le16(f + 14);
        if (tag == 0xFFFE) {  // WAVE_FORMAT_EXTENSIBLE: the subformat GUID starts with the tag
          if (n < 40) bad("short WAVE_FORMAT_EXTENSIBLE fmt chunk");
          tag = le16(f + 24);
        }
        have_fmt = true;
      } else if (std::memcmp(ch, "data", 4) == 0) {
        data_offset_ = body;
        // streaming writers leave 0 or 0xFFFFFFFF here: take what the file holds
        data_size = (n == 0 || n == 0xFFFFFFFFLL || body + n > size_) ? size_ - body : n;
        have_data = true;
      }
      at = body + n + (n & 1);
    }
    if (!have_fmt) bad("no fmt chunk");
    if (!have_data) bad("no data chunk");
    if (channels_ < 1) bad("0 channels");
    if (channels_ > 2)
      throw Fail(path_ + ": " + std::to_string(channels_) +
                 " channels; this tool reads mono or stereo only (downmix first)");
    if (tag == 3 && bits == 32) sample_ = Sample::F32;
    else if (tag == 1 && bits == 16) sample_ = Sample::I16;
    else if (tag == 1 && bits == 24) sample_ = Sample::I24;
    else if (tag == 1 && bits == 32) sample_ = Sample::I32;
    else
      throw Fail(path_ + ": unsupported WAV sample format (tag " + std::to_string(tag) + ", " +
                 std::to_string(bits) + " bits); use float32 or 16/24/32-bit PCM");
    bytes_ = bits / 8;
    if (align != bytes_ * channels_) bad("block align does not match channels x sample size");
    rate_ = rate;
    frames_ = data_size / align;
  }
};

// ----------------------------------------------------------------------------------------------
// Measurements

double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // kB on Linux
}

// A "Name:   123 kB" field of /proc/self/status in MB (-1 if absent).
double status_mb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(f, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':')
      return std::strtod(line.c_str() + n + 1, nullptr) / 1024.0;
  }
  return -1;
}
double rss_mb() { return status_mb("VmRSS"); }

// CPU time of the whole process (all threads), ms: less sensitive to a busy machine than wall time.
double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t k = v.size();
  return k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string fmt(double v, int digits) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

// ----------------------------------------------------------------------------------------------

struct Args {
  std::string model, input, out;
  bool raw = false;
  int threads = 0;
  int workspace = -1;  // XNNPACK workspace sharing mode; -1: the runtime's default
};

const char* kUsage =
    "usage: demix_native MODEL.pte INPUT [--raw] [--threads N] [--workspace private|model|global] "
    "[--out STEMS.f32] [--verbose]";

struct Usage : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Args parse_args(int argc, char** argv) {
  Args a;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw Usage(s + " needs a value");
      return argv[++i];
    };
    if (s == "--raw") a.raw = true;
    else if (s == "--verbose" || s == "-v") g_verbose = true;
    else if (s == "--threads") {
      std::string v = next();
      char* end = nullptr;
      long t = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || t < 1 || t > 256) throw Usage("--threads takes an integer 1-256, got '" + v + "'");
      a.threads = static_cast<int>(t);
    } else if (s == "--workspace") {
      std::string v = next();
      if (v == "private") a.workspace = 0;
      else if (v == "model") a.workspace = 1;
      else if (v == "global") a.workspace = 2;
      else throw Usage("--workspace takes private, model or global, got '" + v + "'");
    } else if (s == "--out" || s == "-o") a.out = next();
    else if (s == "-h" || s == "--help") {
      std::printf("%s\n", kUsage);
      std::exit(0);
    } else if (s.size() > 1 && s[0] == '-') throw Usage("unknown option " + s);
    else pos.push_back(s);
  }
  if (pos.size() != 2) throw Usage("expected MODEL.pte and INPUT");
  a.model = pos[0];
  a.input = pos[1];
  return a;
}

int run(const Args& args) {
  using clock = std::chrono::steady_clock;
  auto ms_since = [](clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  };
  const auto t_start = clock::now();

  // The model file: checked here so that a missing file is our one line, not a runtime log.
  {
    struct stat st {};
    if (stat(args.model.c_str(), &st) != 0) throw Fail(args.model + ": " + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) throw Fail(args.model + ": is a folder, not a .pte file");
  }
  if (args.threads > 0) {
    auto* pool = executorch::extension::threadpool::get_threadpool();
    if (!pool || !pool->_unsafe_reset_threadpool(static_cast<uint32_t>(args.threads)))
      throw Fail("cannot resize the ExecuTorch thread pool to " + std::to_string(args.threads));
  }
  // XNNPACK's workspace (the activations inside its delegate calls): one per delegate call
  // ("private"), one per program ("model") or one per process ("global"). Set before loading.
  const char* kXnnpack = "XnnpackBackend";
  if (args.workspace >= 0) {
    executorch::runtime::BackendOptions<1> opts;
    if (opts.set_option("workspace_sharing_mode", args.workspace) != Error::Ok ||
        executorch::runtime::set_option(kXnnpack, opts.view()) != Error::Ok)
      throw Fail("cannot set XNNPACK's workspace sharing mode" + last_log());
  }
  int workspace_mode = -1;
  {
    executorch::runtime::BackendOptions<1> opts;
    if (opts.set_option("workspace_sharing_mode", 0) == Error::Ok &&
        executorch::runtime::get_option(kXnnpack, opts.view()) == Error::Ok)
      if (const int* v = std::get_if<int>(&opts.view()[0].value)) workspace_mode = *v;
  }
  Module module(args.model, Module::LoadMode::Mmap);
  if (Error e = module.load(executorch::runtime::Program::Verification::InternalConsistency);
      e != Error::Ok)
    throw Fail(args.model + ": not a loadable ExecuTorch program (" + err_hex(e) + last_log() + ")");
  auto names = module.method_names();
  if (!names.ok()) throw Fail(args.model + ": cannot list the program's methods (" + err_hex(names.error()) + ")");
  for (const char* need : {"forward", "get_metadata"})
    if (!names->count(need))
      throw Fail(args.model + ": the program has no '" + need + "' method (not a demix-mobile .pte)");

  // Metadata: the constant method returns the UTF-8 JSON as a uint8 tensor.
  Meta meta;
  {
    auto r = module.execute("get_metadata");
    if (!r.ok() || r->empty() || !(*r)[0].isTensor())
      throw Fail(args.model + ": get_metadata failed (" + err_hex(r.error()) + last_log() + ")");
    const auto& t = (*r)[0].toTensor();
    if (t.scalar_type() != executorch::aten::ScalarType::Byte)
      throw Fail(args.model + ": get_metadata does not return a uint8 tensor");
    std::string text(reinterpret_cast<const char*>(t.const_data_ptr<uint8_t>()), t.nbytes());
    try {
      meta = parse_meta(text);
    } catch (const Fail& f) {
      throw Fail(args.model + ": " + f.what());
    }
    module.unload_method("get_metadata");
  }
  const int64_t L = meta.chunk;
  const int64_t S = static_cast<int64_t>(meta.stems.size());

  // forward's shapes and planned memory, from the program (before any buffer is allocated).
  int64_t planned_bytes = 0;
  std::vector<int64_t> planned;
  {
    auto mm = module.method_meta("forward");
    if (!mm.ok()) throw Fail(args.model + ": no metadata for method forward (" + err_hex(mm.error()) + ")");
    for (size_t i = 0; i < mm->num_memory_planned_buffers(); ++i) {
      auto sz = mm->memory_planned_buffer_size(i);
      if (sz.ok()) {
        planned.push_back(*sz);
        planned_bytes += *sz;
      }
    }
    if (mm->num_inputs() != 1) throw Fail(args.model + ": forward takes " + std::to_string(mm->num_inputs()) + " inputs, expected 1");
    auto in = mm->input_tensor_meta(0);
    if (!in.ok()) throw Fail(args.model + ": forward's input is not a tensor");
    auto sz = in->sizes();
    if (in->scalar_type() != executorch::aten::ScalarType::Float || sz.size() != 3 || sz[0] != 1 ||
        sz[1] != 2 || sz[2] != L)
      throw Fail(args.model + ": forward's input is not float32 [1, 2, " + std::to_string(L) + "] as the metadata says");
  }
  const double rss_before_forward = rss_mb();
  if (Error e = module.load_forward(); e != Error::Ok)
    throw Fail(args.model + ": the ExecuTorch runtime cannot load method 'forward' (" + err_hex(e) + last_log() + ")");
  const double load_ms = ms_since(t_start);
  const double rss_after_load = rss_mb();

  // The song.
  AudioReader reader(args.input, args.raw, meta.sample_rate);
  const int64_t N = reader.frames();
  if (N < 1) throw Fail(args.input + ": no audio frames");
  if (reader.rate() != meta.sample_rate)
    throw Fail(args.input + ": sample rate " + std::to_string(reader.rate()) + " Hz, the model needs " +
               std::to_string(meta.sample_rate) + " Hz (this tool does not resample)");
  const int64_t min_frames = (meta.sample_rate + 9) / 10;  // ceil(0.1 s)
  if (N < min_frames)
    throw Fail(args.input + ": " + std::to_string(N) + " frames is shorter than 0.1 s (" +
               std::to_string(min_frames) + " frames)");
  const std::vector<Chunk> plan = plan_chunks(N, meta);

  // The output file, pre-sized; each chunk's kept middle goes to its place in [S][2][N].
  int out_fd = -1;
  if (!args.out.empty()) {
    out_fd = open(args.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) throw Fail(args.out + ": " + std::strerror(errno));
    if (ftruncate(out_fd, static_cast<off_t>(S * 2 * N * 4)) != 0) {
      std::string why = std::strerror(errno);
      close(out_fd);
      unlink(args.out.c_str());
      throw Fail(args.out + ": " + why);
    }
  }
  auto fail_out = [&](const std::string& msg) {
    if (out_fd >= 0) {
      close(out_fd);
      unlink(args.out.c_str());
    }
    throw Fail(msg);
  };

  std::vector<float> input(static_cast<size_t>(2 * L));
  auto tensor = executorch::extension::from_blob(input.data(), {1, 2, static_cast<int>(L)});
  std::vector<double> times, cpu_times;  // wall and process CPU ms of each forward call
  times.reserve(plan.size());
  cpu_times.reserve(plan.size());
  const auto t_loop = clock::now();
  for (size_t i = 0; i < plan.size(); ++i) {
    const Chunk& c = plan[i];
    const int64_t n = std::min(L, N - c.start);
    std::fill(input.begin() + n, input.begin() + L, 0.0f);
    std::fill(input.begin() + L + n, input.end(), 0.0f);
    try {
      reader.read(c.start, n, input.data(), input.data() + L);
    } catch (const Fail& f) {
      fail_out(f.what());
    }

    const double c0 = cpu_ms();
    const auto t0 = clock::now();
    auto r = module.forward(EValue(*tensor));
    times.push_back(ms_since(t0));
    cpu_times.push_back(cpu_ms() - c0);
    if (!r.ok() || r->empty() || !(*r)[0].isTensor())
      fail_out(args.model + ": forward failed on chunk " + std::to_string(i) + " (" +
               err_hex(r.error()) + last_log() + ")");
    const auto& y = (*r)[0].toTensor();
    auto ys = y.sizes();
    if (y.scalar_type() != executorch::aten::ScalarType::Float || ys.size() != 4 || ys[0] != 1 ||
        ys[1] != S || ys[2] != 2 || ys[3] != L)
      fail_out(args.model + ": forward's output is not float32 [1, " + std::to_string(S) + ", 2, " +
               std::to_string(L) + "]");
    if (out_fd >= 0) {
      const float* yp = y.const_data_ptr<float>();
      const int64_t a = c.keep_from - c.start, b = c.keep_to - c.start;
      for (int64_t sc = 0; sc < S * 2; ++sc) {
        const char* src = reinterpret_cast<const char*>(yp + sc * L + a);
        size_t left = static_cast<size_t>((b - a) * 4), done = 0;
        const off_t at = static_cast<off_t>((sc * N + c.keep_from) * 4);
        while (done < left) {
          ssize_t w = pwrite(out_fd, src + done, left - done, at + static_cast<off_t>(done));
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) fail_out(args.out + ": write failed: " + std::strerror(errno));
          done += static_cast<size_t>(w);
        }
      }
    }
  }
  const double loop_s = ms_since(t_loop) / 1000.0;
  if (out_fd >= 0 && close(out_fd) != 0) {
    unlink(args.out.c_str());
    throw Fail(args.out + ": " + std::strerror(errno));
  }

  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  const size_t k = sorted.size();
  const double median = median_of(times);
  double mean = 0, cpu_mean = 0;
  for (double t : times) mean += t;
  for (double t : cpu_times) cpu_mean += t;
  mean /= static_cast<double>(k);
  cpu_mean /= static_cast<double>(k);
  const double seconds = static_cast<double>(N) / static_cast<double>(meta.sample_rate);
  auto* pool = executorch::extension::threadpool::get_threadpool();
  const size_t threads = pool ? pool->get_thread_count() : 0;

  std::ostringstream o;
  o << "{\"model\": " << json_str(args.model) << ", \"config\": " << json_str(meta.config)
    << ", \"quantization\": " << json_str(meta.quantization) << ", \"model_id\": " << json_str(meta.model_id)
    << ", \"input\": " << json_str(args.input) << ", \"input_format\": " << json_str(args.raw ? "raw-float32" : reader.describe())
    << ", \"input_channels\": " << reader.channels()
    << ", \"sample_rate\": " << meta.sample_rate << ", \"frames\": " << N << ", \"seconds\": " << fmt(seconds, 3)
    << ", \"chunk\": " << L << ", \"step\": " << (meta.chunk - meta.context - meta.lookahead)
    << ", \"chunks\": " << plan.size() << ", \"threads\": " << threads
    << ", \"xnnpack_workspace\": " << json_str(workspace_mode == 0 ? "private" : workspace_mode == 1 ? "model"
                                           : workspace_mode == 2 ? "global" : "unknown")
    << ", \"ms_per_chunk_median\": " << fmt(median, 2) << ", \"ms_per_chunk_mean\": " << fmt(mean, 2)
    << ", \"ms_per_chunk_min\": " << fmt(sorted.front(), 2) << ", \"ms_per_chunk_max\": " << fmt(sorted.back(), 2)
    << ", \"ms_first_chunk\": " << fmt(times.front(), 2)
    << ", \"cpu_ms_per_chunk_median\": " << fmt(median_of(cpu_times), 2)
    << ", \"cpu_ms_per_chunk_mean\": " << fmt(cpu_mean, 2)
    << ", \"load_ms\": " << fmt(load_ms, 1) << ", \"loop_s\": " << fmt(loop_s, 3)
    << ", \"rtf\": " << fmt(loop_s / seconds, 4)
    << ", \"planned_bytes\": " << planned_bytes << ", \"planned_buffers\": [";
  for (size_t i = 0; i < planned.size(); ++i) o << (i ? ", " : "") << planned[i];
  o << "], \"rss_before_forward_mb\": " << fmt(rss_before_forward, 1)
    << ", \"rss_after_load_mb\": " << fmt(rss_after_load, 1)
    << ", \"peak_rss_mb\": " << fmt(peak_rss_mb(), 1)
    << ", \"rss_end_anon_mb\": " << fmt(status_mb("RssAnon"), 1)
    << ", \"rss_end_file_mb\": " << fmt(status_mb("RssFile"), 1)
    << ", \"out\": " << (args.out.empty() ? std::string("null") : json_str(args.out))
    << ", \"out_layout\": " << json_str(args.out.empty() ? "" : "float32 planar [stems][2][frames]")
    << ", \"stems\": [";
  for (size_t i = 0; i < meta.stems.size(); ++i) o << (i ? ", " : "") << json_str(meta.stems[i]);
  o << "]}";
  std::printf("%s\n", o.str().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Route the runtime's log lines through us: errors end in our one line, --verbose shows all.
  executorch::runtime::register_pal(
      executorch::runtime::PalImpl::create(capture_log, __FILE__));
  executorch::runtime::runtime_init();
  Args args;
  try {
    args = parse_args(argc, argv);
  } catch (const Usage& u) {
    std::fprintf(stderr, "demix_native: error: %s (%s)\n", u.what(), kUsage);
    return 2;
  }
  try {
    return run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demix_native: error: %s\n", e.what());
    return 1;
  }
}
