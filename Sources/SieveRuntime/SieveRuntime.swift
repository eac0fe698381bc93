/// Namespace of the SieveRuntime module: executes a `ModelGraph` on the CPU.
///
/// - `Model` compiles a graph once (weights in their stored dtypes, KV cache, preallocated buffers) and
///   evaluates tokens: prefill in batches, decode one token at a time.
/// - `Sampler` chooses tokens (greedy, temperature, top-k, top-p, min-p, repetition penalty, seed).
/// - `Session` generates text from a prompt, as a synchronous loop or an `AsyncThrowingStream`.
/// - `Perplexity` measures perplexity the way llama-perplexity does; `Benchmark` measures prefill and decode speed.
public enum SieveRuntime {}
