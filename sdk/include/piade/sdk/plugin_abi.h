/* The versioned C contract between the piade host and a plugin library.
 *
 * Two numbers, as in OpenCV's videoio plugin API:
 *  - PIADE_PLUGIN_ABI_VERSION changes on a breaking change (a field removed,
 *    reordered or retyped, a different meaning). A host loads only plugins of
 *    its own ABI version.
 *  - PIADE_PLUGIN_API_VERSION grows when fields are appended. A host loads
 *    plugins built for its API version or an older one, reading only the
 *    fields that the plugin's `valid_size` covers.
 *
 * NEVER remove or rearrange the members of these structs: append only, and
 * extend the layout checks at the end of this file (ONNX Runtime's OrtApi
 * rule). Every struct begins with `valid_size`, the sizeof() the plugin was
 * compiled with, so that arrays are walked with the plugin's stride.
 *
 * A plugin exports exactly one symbol, PIADE_PLUGIN_ENTRY_NAME, through
 * BOOST_DLL_ALIAS (see plugin.h, which writes it for you). The entry point
 * and every `create` function are noexcept: no exception crosses them. */
#ifndef PIADE_SDK_PLUGIN_ABI_H_
#define PIADE_SDK_PLUGIN_ABI_H_

#include <stddef.h>
#include <stdint.h>

#define PIADE_PLUGIN_ABI_VERSION 1
#define PIADE_PLUGIN_API_VERSION 0
#define PIADE_PLUGIN_ENTRY_NAME "piade_plugin_entry"

#ifdef __cplusplus
extern "C" {
#endif

/* What part of the PIADE pipeline a component is (paper sec. 3). */
typedef enum PiadeComponentKind {
  PIADE_KIND_BACKBONE = 0,
  PIADE_KIND_POOLING = 1,
  PIADE_KIND_ROUTING = 2,
  PIADE_KIND_DECODER = 3,
  PIADE_KIND_LOSS = 4
} PiadeComponentKind;

typedef enum PiadeParamType {
  PIADE_PARAM_INT = 0,
  PIADE_PARAM_FLOAT = 1,
  PIADE_PARAM_BOOL = 2,
  PIADE_PARAM_STRING = 3,
  PIADE_PARAM_CHOICE = 4,
  PIADE_PARAM_INT_LIST = 5,
  PIADE_PARAM_FLOAT_LIST = 6
} PiadeParamType;

/* How the plugin was built. The host refuses a plugin whose LibTorch
 * version, C++11 ABI flag or CUDA setting differs from its own: C++ objects
 * (modules, tensors) cross the boundary, so those must match exactly. */
typedef struct PiadeBuildFingerprint {
  const char* sdk_version;   /* "MAJOR.MINOR.PATCH" of the piade SDK */
  const char* torch_version; /* TORCH_VERSION, e.g. "1.13.0" */
  int32_t cxx11_abi;         /* _GLIBCXX_USE_CXX11_ABI, 0 or 1 */
  int32_t with_cuda;         /* LibTorch built with CUDA, 0 or 1 */
  const char* compiler;      /* informational only, e.g. "gcc 12.2.0" */
} PiadeBuildFingerprint;

/* One typed parameter of a component. Values are given as text, exactly as a
 * user types them on the command line ("4", "8,4,2,1", "true"); the host
 * parses and validates them against this spec before `create` runs. */
typedef struct PiadeParamSpec {
  uint32_t valid_size;
  int32_t type;               /* PiadeParamType */
  const char* name;           /* lowercase, [a-z0-9_] */
  const char* doc;            /* one line */
  const char* default_value;  /* NULL: the user must give it */
  int32_t has_min;            /* bounds apply to numbers and list elements */
  int32_t has_max;
  double min_value;
  double max_value;
  const char* const* choices; /* PIADE_PARAM_CHOICE only */
  uint32_t choice_count;
} PiadeParamSpec;

/* Builds a component. `context` is a `const piade::ComponentContext*` and the
 * result a heap-allocated `std::shared_ptr<torch::nn::Module>`, which the host
 * takes over; both are C++ objects whose layout ABI version 1 fixes. On
 * failure returns NULL and writes a one-line reason into `error`. */
typedef void* (*PiadeCreateFn)(const void* context, char* error, size_t error_size);

typedef struct PiadeComponentSpec {
  uint32_t valid_size;
  int32_t kind;               /* PiadeComponentKind */
  const char* name;           /* the id users type: lowercase, stable */
  const char* doc;            /* one line */
  const PiadeParamSpec* params;
  uint32_t param_count;
  PiadeCreateFn create;
} PiadeComponentSpec;

typedef struct PiadePluginManifest {
  uint32_t valid_size;
  uint32_t abi_version;       /* PIADE_PLUGIN_ABI_VERSION at build time */
  uint32_t api_version;       /* PIADE_PLUGIN_API_VERSION at build time */
  PiadeBuildFingerprint build;
  const char* plugin_name;
  const char* plugin_version; /* the plugin's own version, e.g. "1.0.0" */
  const char* description;    /* one line */
  const PiadeComponentSpec* components;
  uint32_t component_count;
} PiadePluginManifest;

/* The single exported entry point. Must not throw; returns NULL on failure. */
typedef const PiadePluginManifest* (*PiadePluginEntryFn)(void);

#ifdef __cplusplus
} /* extern "C" */

/* Frozen layout of ABI version 1 on LP64 targets. A change here is a
 * breaking change: bump PIADE_PLUGIN_ABI_VERSION instead of editing these. */
#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu
static_assert(offsetof(PiadeBuildFingerprint, compiler) == 24, "frozen ABI 1 layout");
static_assert(sizeof(PiadeBuildFingerprint) == 32, "frozen ABI 1 layout");
static_assert(offsetof(PiadeParamSpec, default_value) == 24, "frozen ABI 1 layout");
static_assert(offsetof(PiadeParamSpec, choices) == 56, "frozen ABI 1 layout");
static_assert(sizeof(PiadeParamSpec) == 72, "frozen ABI 1 layout");
static_assert(offsetof(PiadeComponentSpec, params) == 24, "frozen ABI 1 layout");
static_assert(offsetof(PiadeComponentSpec, create) == 40, "frozen ABI 1 layout");
static_assert(sizeof(PiadeComponentSpec) == 48, "frozen ABI 1 layout");
static_assert(offsetof(PiadePluginManifest, build) == 16, "frozen ABI 1 layout");
static_assert(offsetof(PiadePluginManifest, plugin_name) == 48, "frozen ABI 1 layout");
static_assert(offsetof(PiadePluginManifest, components) == 72, "frozen ABI 1 layout");
static_assert(sizeof(PiadePluginManifest) == 88, "frozen ABI 1 layout");
#endif
#endif /* __cplusplus */

#endif /* PIADE_SDK_PLUGIN_ABI_H_ */
