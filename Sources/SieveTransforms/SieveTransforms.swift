/// Namespace of the SieveTransforms module: passes over the IR.
public enum SieveTransforms {}
