/// Namespace of the SieveKernels module.
public enum SieveKernels {}
