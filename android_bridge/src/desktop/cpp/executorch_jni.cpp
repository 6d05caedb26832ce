// DESKTOP STAND-IN for ExecuTorch's Android JNI layer: the native side of the Java classes in
// src/desktop/java/org/pytorch/executorch (Module, Tensor, EValue), built by android_bridge/build.sh
// with g++ against the executorch pip wheel's C++ SDK into build/libdemix_executorch_jni.so.
//
// It is NOT the official binding (that one is extension/android/jni in the executorch sources,
// shipped inside the executorch-android AAR): it only lets the bridge's ExecutorchRunner run the
// same .pte through the same C++ runtime (executorch::extension::Module, XNNPACK delegate,
// portable/optimized/quantized kernels) on a desktop JVM. Tensors crossing the boundary are
// float32 or uint8 and are copied (in: Java array -> native buffer; out: runtime tensor -> new
// Java array).
//
// The runtime's log lines are captured (not printed: a command line tool prints one error line)
// and the last error line is appended to exception messages. DEMIX_EXECUTORCH_LOG=1 prints them.

#include <jni.h>

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/platform/platform.h>
#include <executorch/runtime/platform/runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

// The wheel ships libexecutorch_threadpool.so but not threadpool.h (see bench/native): declare
// the member we call; it is non-virtual and we never construct the class.
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

namespace {

using executorch::aten::ScalarType;
using executorch::extension::Module;
using executorch::runtime::Error;
using executorch::runtime::EValue;

// ---------------------------------------------------------------------------------------------
// Runtime log capture

std::mutex g_log_mutex;
std::string g_last_error;  // the runtime's last error/fatal log line
bool g_print_log = false;

void capture_log(et_timestamp_t, et_pal_log_level_t level, const char*, const char*, size_t,
                 const char* message, size_t length) {
  std::string msg(message, length);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  for (char& c : msg)  // one printable line, whatever bytes a damaged file put in the message
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  if (g_print_log) std::fprintf(stderr, "[executorch %c] %s\n", static_cast<char>(level), msg.c_str());
  if (level == kError || level == kFatal) {
    std::lock_guard<std::mutex> lock(g_log_mutex);
    g_last_error = msg;
  }
}

std::string take_last_error() {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  std::string s;
  s.swap(g_last_error);
  return s;
}

void clear_last_error() {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  g_last_error.clear();
}

// ---------------------------------------------------------------------------------------------
// Exceptions

void throw_java(JNIEnv* env, const char* cls, const std::string& msg) {
  jclass c = env->FindClass(cls);
  if (c) env->ThrowNew(c, msg.c_str());
}

void throw_et(JNIEnv* env, Error e, const std::string& details) {
  std::string d = details;
  std::string log = take_last_error();
  if (!log.empty()) d += " (" + log + ")";
  jclass c = env->FindClass("org/pytorch/executorch/ExecutorchRuntimeException");
  if (!c) return;
  jmethodID ctor = env->GetMethodID(c, "<init>", "(ILjava/lang/String;)V");
  if (!ctor) return;
  jstring jmsg = env->NewStringUTF(d.c_str());
  auto ex = static_cast<jthrowable>(env->NewObject(c, ctor, static_cast<jint>(e), jmsg));
  if (ex) env->Throw(ex);
}

std::string to_string(JNIEnv* env, jstring s) {
  if (!s) return "";
  const char* chars = env->GetStringUTFChars(s, nullptr);
  std::string out = chars ? chars : "";
  if (chars) env->ReleaseStringUTFChars(s, chars);
  return out;
}

Module* module_of(JNIEnv* env, jlong handle) {
  if (handle == 0) throw_java(env, "java/lang/IllegalStateException", "Module has been destroyed");
  return reinterpret_cast<Module*>(handle);
}

// ---------------------------------------------------------------------------------------------
// Module

jlong native_load(JNIEnv* env, jclass, jstring jpath, jint load_mode, jint num_threads) {
  const std::string path = to_string(env, jpath);
  if (num_threads > 0) {
    auto* pool = executorch::extension::threadpool::get_threadpool();
    if (!pool || !pool->_unsafe_reset_threadpool(static_cast<uint32_t>(num_threads))) {
      throw_et(env, Error::Internal, "cannot resize the thread pool to " + std::to_string(num_threads));
      return 0;
    }
  }
  Module::LoadMode mode = Module::LoadMode::File;
  switch (load_mode) {
    case 1: mode = Module::LoadMode::Mmap; break;
    case 2: mode = Module::LoadMode::MmapUseMlock; break;
    case 3: mode = Module::LoadMode::MmapUseMlockIgnoreErrors; break;
    default: break;
  }
  clear_last_error();
  std::unique_ptr<Module> m;
  try {
    m = std::make_unique<Module>(path, mode);
  } catch (const std::exception& e) {
    throw_et(env, Error::Internal, std::string("cannot create module: ") + e.what());
    return 0;
  }
  // Like the official binding, load the program right away so a bad file fails here. The
  // InternalConsistency check refuses damaged flatbuffers instead of reading past their ends.
  Error err = m->load(executorch::runtime::Program::Verification::InternalConsistency);
  if (err != Error::Ok) {
    throw_et(env, err, "Failed to load program " + path);
    return 0;
  }
  return reinterpret_cast<jlong>(m.release());
}

void native_destroy(JNIEnv*, jclass, jlong handle) {
  delete reinterpret_cast<Module*>(handle);
}

jint native_load_method(JNIEnv* env, jclass, jlong handle, jstring jname) {
  Module* m = module_of(env, handle);
  if (!m) return static_cast<jint>(Error::InvalidState);
  clear_last_error();
  return static_cast<jint>(m->load_method(to_string(env, jname)));
}

jstring native_last_log(JNIEnv* env, jclass) {
  return env->NewStringUTF(take_last_error().c_str());
}

jobjectArray native_method_names(JNIEnv* env, jclass, jlong handle) {
  Module* m = module_of(env, handle);
  if (!m) return nullptr;
  auto names = m->method_names();
  if (!names.ok()) {
    throw_et(env, names.error(), "Failed to list the methods");
    return nullptr;
  }
  jclass str = env->FindClass("java/lang/String");
  jobjectArray out = env->NewObjectArray(static_cast<jsize>(names->size()), str, nullptr);
  if (!out) return nullptr;
  jsize i = 0;
  for (const auto& n : *names) {
    jstring s = env->NewStringUTF(n.c_str());
    env->SetObjectArrayElement(out, i++, s);
    env->DeleteLocalRef(s);
  }
  return out;
}

// Inputs: data[i] is a float[] or byte[] (uint8), shapes[i] its shape. Returns Object[2 * n]:
// (data array or null, long[] shape or null) per output; only float32/uint8 tensors are passed
// back, other outputs come back as (null, null) (EValue None on the Java side).
jobjectArray native_execute(JNIEnv* env, jclass, jlong handle, jstring jmethod, jobjectArray data,
                            jobjectArray shapes) {
  Module* m = module_of(env, handle);
  if (!m) return nullptr;
  const std::string method = to_string(env, jmethod);
  const jsize n = data ? env->GetArrayLength(data) : 0;
  jclass float_array = env->FindClass("[F");
  jclass byte_array = env->FindClass("[B");

  std::vector<std::vector<uint8_t>> buffers(static_cast<size_t>(n));
  std::vector<executorch::extension::TensorPtr> tensors;
  std::vector<EValue> inputs;
  for (jsize i = 0; i < n; ++i) {
    jobject d = env->GetObjectArrayElement(data, i);
    auto sh = static_cast<jlongArray>(env->GetObjectArrayElement(shapes, i));
    const jsize rank = env->GetArrayLength(sh);
    std::vector<jlong> dims(static_cast<size_t>(rank));
    env->GetLongArrayRegion(sh, 0, rank, dims.data());
    std::vector<executorch::aten::SizesType> sizes(dims.begin(), dims.end());
    ScalarType type;
    const jsize len = env->GetArrayLength(static_cast<jarray>(d));
    auto& buf = buffers[static_cast<size_t>(i)];
    if (env->IsInstanceOf(d, float_array)) {
      type = ScalarType::Float;
      buf.resize(static_cast<size_t>(len) * sizeof(float));
      env->GetFloatArrayRegion(static_cast<jfloatArray>(d), 0, len, reinterpret_cast<jfloat*>(buf.data()));
    } else if (env->IsInstanceOf(d, byte_array)) {
      type = ScalarType::Byte;
      buf.resize(static_cast<size_t>(len));
      env->GetByteArrayRegion(static_cast<jbyteArray>(d), 0, len, reinterpret_cast<jbyte*>(buf.data()));
    } else {
      throw_java(env, "java/lang/IllegalArgumentException",
                 "the desktop stand-in passes only float32 and uint8 tensors");
      return nullptr;
    }
    env->DeleteLocalRef(d);
    env->DeleteLocalRef(sh);
    tensors.push_back(executorch::extension::from_blob(buf.data(), std::move(sizes), type));
    inputs.emplace_back(*tensors.back());
  }

  clear_last_error();
  auto result = m->execute(method, inputs);
  if (!result.ok()) {
    throw_et(env, result.error(), "Execution of method " + method + " failed");
    return nullptr;
  }
  const auto& outs = *result;
  jclass object = env->FindClass("java/lang/Object");
  jobjectArray ret = env->NewObjectArray(static_cast<jsize>(2 * outs.size()), object, nullptr);
  if (!ret) return nullptr;
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!outs[i].isTensor()) continue;
    const auto& t = outs[i].toTensor();
    jobject arr = nullptr;
    const auto numel = static_cast<jsize>(t.numel());
    if (t.scalar_type() == ScalarType::Float) {
      jfloatArray a = env->NewFloatArray(numel);
      if (!a) return nullptr;
      env->SetFloatArrayRegion(a, 0, numel, t.const_data_ptr<float>());
      arr = a;
    } else if (t.scalar_type() == ScalarType::Byte) {
      jbyteArray a = env->NewByteArray(numel);
      if (!a) return nullptr;
      env->SetByteArrayRegion(a, 0, numel, reinterpret_cast<const jbyte*>(t.const_data_ptr<uint8_t>()));
      arr = a;
    } else {
      throw_java(env, "java/lang/IllegalStateException",
                 "output " + std::to_string(i) + " of " + method + " has scalar type " +
                     std::to_string(static_cast<int>(t.scalar_type())) +
                     "; the desktop stand-in returns only float32 and uint8 tensors");
      return nullptr;
    }
    const auto sizes = t.sizes();
    jlongArray shape = env->NewLongArray(static_cast<jsize>(sizes.size()));
    std::vector<jlong> dims(sizes.begin(), sizes.end());
    env->SetLongArrayRegion(shape, 0, static_cast<jsize>(dims.size()), dims.data());
    env->SetObjectArrayElement(ret, static_cast<jsize>(2 * i), arr);
    env->SetObjectArrayElement(ret, static_cast<jsize>(2 * i + 1), shape);
    env->DeleteLocalRef(arr);
    env->DeleteLocalRef(shape);
  }
  return ret;
}

}  // namespace

extern "C" JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM* vm, void*) {
  JNIEnv* env = nullptr;
  if (vm->GetEnv(reinterpret_cast<void**>(&env), JNI_VERSION_1_8) != JNI_OK) return JNI_ERR;
  const char* verbose = std::getenv("DEMIX_EXECUTORCH_LOG");
  g_print_log = verbose && *verbose && std::strcmp(verbose, "0") != 0;
  executorch::runtime::register_pal(executorch::runtime::PalImpl::create(capture_log, __FILE__));
  executorch::runtime::runtime_init();

  jclass cls = env->FindClass("org/pytorch/executorch/Module");
  if (!cls) return JNI_ERR;
  static const JNINativeMethod methods[] = {
      {const_cast<char*>("nativeLoad"), const_cast<char*>("(Ljava/lang/String;II)J"),
       reinterpret_cast<void*>(native_load)},
      {const_cast<char*>("nativeExecute"),
       const_cast<char*>("(JLjava/lang/String;[Ljava/lang/Object;[[J)[Ljava/lang/Object;"),
       reinterpret_cast<void*>(native_execute)},
      {const_cast<char*>("nativeLoadMethod"), const_cast<char*>("(JLjava/lang/String;)I"),
       reinterpret_cast<void*>(native_load_method)},
      {const_cast<char*>("nativeMethodNames"), const_cast<char*>("(J)[Ljava/lang/String;"),
       reinterpret_cast<void*>(native_method_names)},
      {const_cast<char*>("nativeDestroy"), const_cast<char*>("(J)V"),
       reinterpret_cast<void*>(native_destroy)},
      {const_cast<char*>("nativeLastLog"), const_cast<char*>("()Ljava/lang/String;"),
       reinterpret_cast<void*>(native_last_log)},
  };
  if (env->RegisterNatives(cls, methods, sizeof(methods) / sizeof(methods[0])) != JNI_OK) return JNI_ERR;
  return JNI_VERSION_1_8;
}
