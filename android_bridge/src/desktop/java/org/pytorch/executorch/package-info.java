/**
 * DESKTOP STAND-IN for a small subset of ExecuTorch's Android Java API (package
 * {@code org.pytorch.executorch} of {@code org.pytorch:executorch-android}), so that the bridge's
 * {@code ExecutorchRunner} runs on a desktop JVM (tests, the {@code demix-bridge.jar} command).
 *
 * <p>This is <b>not</b> the official runtime binding: it is written here, against the ExecuTorch
 * pip wheel's C++ SDK, through {@code libdemix_executorch_jni.so} (src/desktop/cpp). The public
 * names and signatures it has are the official ones (checked against the executorch sources, tag
 * v1.4.0 and the 1.5.0 development branch; see android_bridge/README.md), and nothing else is
 * public, so code that compiles against it compiles against the AAR. On Android this source set
 * is not built: the AAR's classes take its place.
 */
package org.pytorch.executorch;
