// `import Sieve` gives an app everything it needs: the IR and file formats, the runtime, the tokenizers and the
// packer, plus the small API of this module (`LanguageModel`, `BuiltInFormats`, `Packer.pack(contentsOf:…)`,
// `Converter.convert(_:to:…)`).
@_exported import BundleFormat
@_exported import GGUFFormat
@_exported import SafetensorsFormat
@_exported import SieveCore
@_exported import SieveRuntime
@_exported import SieveTokenizers
@_exported import SieveTransforms
