#include "torch_save.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <c10/util/Exception.h>
#include <c10/util/strides.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include "piade/sdk/zip_check.h"

// Storage records hold the saving machine's byte order; torch.save has
// always run little-endian in practice (newer versions say so in a
// `byteorder` record, checked below).
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "piade::detail::read_torch_save copies little-endian storages as they are: port it first"
#endif

namespace piade::detail {
namespace {

// ---- A bounded reader for the pickle that torch.save writes for a state dict
//
// LibTorch's own unpickler (torch::pickle_load; torch/csrc/jit/serialization/
// unpickler.cpp, Unpickler::readGlobal) cannot be used: it replaces every
// `collections.OrderedDict` with None before any type resolver is asked (it
// expects one only as a tensor's empty backward hooks), so the OrderedDict of
// model.state_dict() ends in "isGenericDict() INTERNAL ASSERT FAILED". This
// reader implements the opcodes CPython's pickler emits at torch.save's
// default protocol 2, and the few that protocols 3 to 5 add for the same
// values (opcode table: CPython's Lib/pickletools.py); anything else is
// refused with its byte offset.
//
// Bounds: every length is checked against the bytes left; each opcode adds
// at most one node, so memory grows at most linearly with data.pkl, itself
// no larger than the file; nodes refer to each other by index into one
// arena, so no nesting in a hostile file can exhaust the stack (no recursive
// destructors, and the interpretation below looks two levels deep only).

enum class Kind { none, boolean, integer, big_integer, floating, string, bytes, tuple, list, dict, global, object, storage, tensor };

struct Node {
  Kind kind = Kind::none;
  int64_t integer = 0;  ///< boolean, integer; storage: its numel; tensor: its storage offset
  double floating = 0.0;
  std::string text;  ///< string, bytes; global, object: "module.name"; storage: its record key
  std::vector<std::size_t> items;  ///< tuple, list; dict: key, value, key, value...; tensor: {storage}
  std::vector<int64_t> dims;       ///< tensor: sizes, then strides
  torch::ScalarType dtype = torch::kByte;  ///< storage
  bool module = false;  ///< object: its state has `_modules`, as a pickled torch.nn.Module's does
};

/// "an int", "a str", "a torchvision.models.resnet.ResNet object", "None".
std::string described(const Node& node) {
  switch (node.kind) {
    case Kind::none: return "None";
    case Kind::boolean: return "a bool";
    case Kind::integer:
    case Kind::big_integer: return "an int";
    case Kind::floating: return "a float";
    case Kind::string: return "a str";
    case Kind::bytes: return "a bytes";
    case Kind::tuple: return "a tuple";
    case Kind::list: return "a list";
    case Kind::dict: return "a dict";
    case Kind::global: return "a reference to " + node.text;
    case Kind::object: return "a " + node.text + " object";
    case Kind::storage: return "a storage";
    case Kind::tensor: return "a tensor";
  }
  return "a value";
}

/// Torch's storage classes are named after the scalar type (torch.FloatStorage,
/// torch.LongStorage, torch.BFloat16Storage, ...), as LibTorch's unpickler
/// also maps them; quantized ones are left out.
std::optional<torch::ScalarType> storage_dtype(const std::string& global) {
#define PIADE_STORAGE_DTYPE(_, name) \
  if (global == "torch." #name "Storage") return torch::k##name;
  AT_FORALL_SCALAR_TYPES_WITH_COMPLEX(PIADE_STORAGE_DTYPE)
#undef PIADE_STORAGE_DTYPE
  return std::nullopt;
}

struct PickleError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Unpickler {
 public:
  Unpickler(const char* data, std::size_t size) : data_(reinterpret_cast<const unsigned char*>(data)), size_(size) {
    // Immutable values, shared by every opcode that pushes one.
    none_ = add(Node{});
    Node value;
    value.kind = Kind::boolean;
    false_ = add(value);
    value.integer = 1;
    true_ = add(value);
    value = Node{};
    value.kind = Kind::tuple;
    empty_tuple_ = add(value);
  }

  /// Runs to the STOP opcode and returns the pickled value.
  std::size_t run();
  const Node& at(std::size_t index) const { return nodes_[index]; }
  /// The class of the first object that is neither a dict nor a tensor
  /// ("" if none): what a pickle that is not a state dict holds.
  const std::string& first_class() const { return first_class_; }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw PickleError(what + " at byte " + std::to_string(opcode_at_) + " of data.pkl");
  }
  const unsigned char* take(uint64_t n) {
    if (n > size_ - pos_)
      fail("an opcode needs " + std::to_string(n) + " bytes, " + std::to_string(size_ - pos_) +
           " are left (data.pkl is truncated)");
    const unsigned char* at = data_ + pos_;
    pos_ += static_cast<std::size_t>(n);
    return at;
  }
  uint64_t little_endian(std::size_t n) {
    const unsigned char* at = take(n);
    uint64_t value = 0;
    for (std::size_t i = n; i-- > 0;) value = value << 8 | at[i];
    return value;
  }
  std::string line() {
    const void* end = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (end == nullptr) fail("a GLOBAL name runs past the end of data.pkl (it is truncated)");
    const std::size_t n = static_cast<const unsigned char*>(end) - (data_ + pos_);
    std::string text(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n + 1;
    return text;
  }
  std::size_t add(Node node) {
    nodes_.push_back(std::move(node));
    return nodes_.size() - 1;
  }
  std::size_t add_text(Kind kind, uint64_t size) {
    const unsigned char* at = take(size);
    Node node;
    node.kind = kind;
    node.text.assign(reinterpret_cast<const char*>(at), static_cast<std::size_t>(size));
    return add(std::move(node));
  }
  std::size_t add_integer(int64_t value) {
    Node node;
    node.kind = Kind::integer;
    node.integer = value;
    return add(std::move(node));
  }
  std::size_t add_container(Kind kind, std::vector<std::size_t> items) {
    Node node;
    node.kind = kind;
    node.items = std::move(items);
    return add(std::move(node));
  }
  std::size_t add_object(const std::string& name) {
    if (name == "collections.OrderedDict") return add_container(Kind::dict, {});
    if (first_class_.empty()) first_class_ = name;
    Node node;
    node.kind = Kind::object;
    node.text = name;
    return add(std::move(node));
  }

  // Python's unpickler starts a new stack at each MARK; popping below it is an error.
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(std::size_t index) { stack_.push_back(index); }
  std::size_t pop() {
    if (stack_.size() <= floor()) fail("the pickle stack is empty (data.pkl is corrupt)");
    const std::size_t index = stack_.back();
    stack_.pop_back();
    return index;
  }
  std::size_t top() const {
    if (stack_.size() <= floor()) fail("the pickle stack is empty (data.pkl is corrupt)");
    return stack_.back();
  }
  std::vector<std::size_t> pop_to_mark() {
    if (marks_.empty()) fail("an opcode needs a MARK there is none of (data.pkl is corrupt)");
    const std::size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<std::size_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  std::size_t memo(uint64_t key) const {
    auto found = memo_.find(key);
    if (found == memo_.end()) fail("memo entry " + std::to_string(key) + " was never stored (data.pkl is corrupt)");
    return found->second;
  }

  void append(std::size_t list, const std::vector<std::size_t>& items);
  void set_items(std::size_t dict, const std::vector<std::size_t>& items);
  std::size_t reduce(std::size_t callable, std::size_t args);
  std::size_t rebuild_tensor(const std::vector<std::size_t>& args);
  void build(std::size_t object, std::size_t state);
  std::size_t persistent_load(std::size_t id);

  const unsigned char* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  std::size_t opcode_at_ = 0;
  std::vector<Node> nodes_;
  std::vector<std::size_t> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<uint64_t, std::size_t> memo_;
  std::size_t none_ = 0, false_ = 0, true_ = 0, empty_tuple_ = 0;
  std::string first_class_;
};

std::size_t Unpickler::run() {
  for (;;) {
    opcode_at_ = pos_;
    if (pos_ >= size_) fail("data.pkl ends without its STOP opcode (it is truncated)");
    const unsigned char opcode = data_[pos_++];
    switch (opcode) {
      case 0x80: {  // PROTO
        const unsigned protocol = *take(1);
        if (protocol > 5) fail("pickle protocol " + std::to_string(protocol) + " is newer than 5");
        break;
      }
      case 0x95: take(8); break;  // FRAME: a length hint only
      case '.': return pop();     // STOP
      case '(': marks_.push_back(stack_.size()); break;  // MARK
      case '0': pop(); break;                             // POP
      case '1': pop_to_mark(); break;                     // POP_MARK
      case '2': push(top()); break;                       // DUP
      case 'N': push(none_); break;
      case 0x88: push(true_); break;   // NEWTRUE
      case 0x89: push(false_); break;  // NEWFALSE
      case 'J': push(add_integer(static_cast<int32_t>(static_cast<uint32_t>(little_endian(4))))); break;  // BININT
      case 'K': push(add_integer(static_cast<int64_t>(little_endian(1)))); break;  // BININT1
      case 'M': push(add_integer(static_cast<int64_t>(little_endian(2)))); break;  // BININT2
      case 0x8a:    // LONG1
      case 0x8b: {  // LONG4: little-endian two's complement of n bytes
        const uint64_t n = opcode == 0x8a ? little_endian(1) : static_cast<int32_t>(static_cast<uint32_t>(little_endian(4)));
        if (opcode == 0x8b && static_cast<int64_t>(n) < 0) fail("LONG4 has a negative length");
        if (n > 8) {
          take(n);
          Node node;
          node.kind = Kind::big_integer;
          push(add(std::move(node)));
          break;
        }
        uint64_t value = little_endian(static_cast<std::size_t>(n));
        if (n > 0 && n < 8 && (value >> (8 * n - 1) & 1)) value |= ~uint64_t{0} << (8 * n);
        push(add_integer(static_cast<int64_t>(value)));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian IEEE 754 double
        const unsigned char* at = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = bits << 8 | at[i];
        Node node;
        node.kind = Kind::floating;
        std::memcpy(&node.floating, &bits, 8);
        push(add(std::move(node)));
        break;
      }
      case 'X': push(add_text(Kind::string, little_endian(4))); break;   // BINUNICODE
      case 0x8c: push(add_text(Kind::string, little_endian(1))); break;  // SHORT_BINUNICODE
      case 0x8d: push(add_text(Kind::string, little_endian(8))); break;  // BINUNICODE8
      case 'U': push(add_text(Kind::string, little_endian(1))); break;   // SHORT_BINSTRING (Python 2 str)
      case 'T': {                                                         // BINSTRING
        const int32_t n = static_cast<int32_t>(static_cast<uint32_t>(little_endian(4)));
        if (n < 0) fail("BINSTRING has a negative length");
        push(add_text(Kind::string, static_cast<uint64_t>(n)));
        break;
      }
      case 'C': push(add_text(Kind::bytes, little_endian(1))); break;   // SHORT_BINBYTES
      case 'B': push(add_text(Kind::bytes, little_endian(4))); break;   // BINBYTES
      case 0x8e: push(add_text(Kind::bytes, little_endian(8))); break;  // BINBYTES8
      case ')': push(empty_tuple_); break;                              // EMPTY_TUPLE
      case 't': push(add_container(Kind::tuple, pop_to_mark())); break;  // TUPLE
      case 0x85:  // TUPLE1
      case 0x86:  // TUPLE2
      case 0x87: {  // TUPLE3
        std::vector<std::size_t> items(opcode - 0x84);
        for (std::size_t i = items.size(); i-- > 0;) items[i] = pop();
        push(add_container(Kind::tuple, std::move(items)));
        break;
      }
      case ']': push(add_container(Kind::list, {})); break;              // EMPTY_LIST
      case 'l': push(add_container(Kind::list, pop_to_mark())); break;   // LIST
      case 'a': {                                                        // APPEND
        const std::size_t value = pop();
        append(top(), {value});
        break;
      }
      case 'e': {  // APPENDS
        const std::vector<std::size_t> items = pop_to_mark();
        append(top(), items);
        break;
      }
      case '}': push(add_container(Kind::dict, {})); break;  // EMPTY_DICT
      case 'd': {                                            // DICT
        std::vector<std::size_t> items = pop_to_mark();
        if (items.size() % 2 != 0) fail("DICT has an odd number of keys and values");
        push(add_container(Kind::dict, std::move(items)));
        break;
      }
      case 's': {  // SETITEM
        const std::size_t value = pop();
        const std::size_t key = pop();
        set_items(top(), {key, value});
        break;
      }
      case 'u': {  // SETITEMS
        const std::vector<std::size_t> items = pop_to_mark();
        if (items.size() % 2 != 0) fail("SETITEMS has an odd number of keys and values");
        set_items(top(), items);
        break;
      }
      case 'c': {  // GLOBAL: "module\nname\n"
        const std::string module = line();
        const std::string name = line();
        Node node;
        node.kind = Kind::global;
        node.text = module + "." + name;
        push(add(std::move(node)));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const std::size_t name = pop();
        const std::size_t module = pop();
        if (nodes_[module].kind != Kind::string || nodes_[name].kind != Kind::string)
          fail("STACK_GLOBAL needs two strings");
        Node node;
        node.kind = Kind::global;
        node.text = nodes_[module].text + "." + nodes_[name].text;
        push(add(std::move(node)));
        break;
      }
      case 'R': {  // REDUCE
        const std::size_t args = pop();
        const std::size_t callable = pop();
        push(reduce(callable, args));
        break;
      }
      case 0x81:    // NEWOBJ: cls.__new__(cls, *args)
      case 0x92: {  // NEWOBJ_EX: the same with keyword arguments
        if (opcode == 0x92) pop();
        pop();
        const std::size_t cls = pop();
        if (nodes_[cls].kind != Kind::global) fail("NEWOBJ on " + described(nodes_[cls]) + ", not a class");
        push(add_object(nodes_[cls].text));
        break;
      }
      case 'b': {  // BUILD: obj.__setstate__(state)
        const std::size_t state = pop();
        build(top(), state);
        break;
      }
      case 'Q': push(persistent_load(pop())); break;  // BINPERSID
      case 'q': memo_[little_endian(1)] = top(); break;  // BINPUT
      case 'r': memo_[little_endian(4)] = top(); break;  // LONG_BINPUT
      case 0x94: {  // MEMOIZE
        const uint64_t key = memo_.size();
        memo_[key] = top();
        break;
      }
      case 'h': push(memo(little_endian(1))); break;  // BINGET
      case 'j': push(memo(little_endian(4))); break;  // LONG_BINGET
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", opcode);
        fail(std::string("pickle opcode ") + hex + " is not one torch.save writes for a state dict");
      }
    }
  }
}

void Unpickler::append(std::size_t list, const std::vector<std::size_t>& items) {
  Node& target = nodes_[list];
  if (target.kind == Kind::object) return;  // a list subclass of some pickled object: not needed
  if (target.kind != Kind::list) fail("APPEND to " + described(target) + ", not a list");
  target.items.insert(target.items.end(), items.begin(), items.end());
}

void Unpickler::set_items(std::size_t dict, const std::vector<std::size_t>& items) {
  Node& target = nodes_[dict];
  if (target.kind == Kind::object) return;  // a dict subclass of some pickled object: not needed
  if (target.kind != Kind::dict) fail("SETITEM on " + described(target) + ", not a dict");
  target.items.insert(target.items.end(), items.begin(), items.end());
}

std::size_t Unpickler::reduce(std::size_t callable, std::size_t args) {
  if (nodes_[callable].kind != Kind::global && nodes_[callable].kind != Kind::object)
    fail("REDUCE calls " + described(nodes_[callable]) + ", not a class or function");
  if (nodes_[args].kind != Kind::tuple) fail("REDUCE arguments are " + described(nodes_[args]) + ", not a tuple");
  const std::string name = nodes_[callable].text;
  const std::vector<std::size_t> arguments = nodes_[args].items;
  if (nodes_[callable].kind == Kind::global) {
    // OrderedDict.__reduce__ gives (OrderedDict, ()), then the items and
    // BUILD with the instance's attributes: state_dict()'s `_metadata`.
    if (name == "collections.OrderedDict" && !arguments.empty())
      fail("collections.OrderedDict is called with arguments");
    // torch/_tensor.py Tensor._reduce_ex_internal for a dense CPU or CUDA tensor.
    if (name == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(arguments);
    // torch/nn/parameter.py Parameter.__reduce_ex__: (data, requires_grad, hooks[, state]).
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (arguments.empty() || nodes_[arguments[0]].kind != Kind::tensor)
        fail(name + " is not given a tensor");
      return arguments[0];
    }
  }
  // Anything else (sets, quantized or sparse tensors, model classes): an
  // opaque object, which is an error only if the state dict holds it.
  return add_object(name);
}

// torch/_utils.py _rebuild_tensor_v2(storage, storage_offset, size, stride,
// requires_grad, backward_hooks[, metadata]); only the first four matter.
std::size_t Unpickler::rebuild_tensor(const std::vector<std::size_t>& args) {
  if (args.size() < 4) fail("_rebuild_tensor_v2 has " + std::to_string(args.size()) + " arguments, not 6");
  const Node& storage = nodes_[args[0]];
  const Node& offset = nodes_[args[1]];
  const Node& sizes = nodes_[args[2]];
  const Node& strides = nodes_[args[3]];
  if (storage.kind != Kind::storage) fail("_rebuild_tensor_v2 is given " + described(storage) + ", not a storage");
  if (offset.kind != Kind::integer || offset.integer < 0) fail("_rebuild_tensor_v2 has a storage offset that is not a size");
  if (sizes.kind != Kind::tuple || strides.kind != Kind::tuple || sizes.items.size() != strides.items.size())
    fail("_rebuild_tensor_v2 has sizes and strides that are not two tuples of one length");
  Node tensor;
  tensor.kind = Kind::tensor;
  tensor.integer = offset.integer;
  tensor.items = {args[0]};
  for (const std::vector<std::size_t>* list : {&sizes.items, &strides.items})
    for (std::size_t item : *list) {
      if (nodes_[item].kind != Kind::integer || nodes_[item].integer < 0)
        fail("_rebuild_tensor_v2 has a size or stride that is not a non-negative int");
      tensor.dims.push_back(nodes_[item].integer);
    }
  return add(std::move(tensor));
}

void Unpickler::build(std::size_t object, std::size_t state) {
  Node& target = nodes_[object];
  if (target.kind == Kind::dict) return;  // an OrderedDict's attributes: state_dict()'s `_metadata`
  if (target.kind != Kind::object) fail("BUILD on " + described(target));
  // The state is the instance's __dict__, or (__dict__, slots).
  std::size_t attributes = state;
  if (nodes_[state].kind == Kind::tuple && nodes_[state].items.size() == 2) attributes = nodes_[state].items[0];
  const Node& dict = nodes_[attributes];
  if (dict.kind != Kind::dict) return;
  for (std::size_t i = 0; i < dict.items.size(); i += 2) {
    const Node& key = nodes_[dict.items[i]];
    if (key.kind == Kind::string && key.text == "_modules") target.module = true;
  }
}

// torch/serialization.py _save's persistent_id for a storage:
// ('storage', storage_type, key, location, numel), numel in elements.
std::size_t Unpickler::persistent_load(std::size_t id) {
  const Node& tuple = nodes_[id];
  const auto item = [&](std::size_t i) -> const Node& { return nodes_[tuple.items[i]]; };
  if (tuple.kind != Kind::tuple || tuple.items.size() != 5 || item(0).kind != Kind::string ||
      item(0).text != "storage" || item(1).kind != Kind::global || item(2).kind != Kind::string ||
      item(4).kind != Kind::integer || item(4).integer < 0)
    fail("a persistent id is not ('storage', type, key, location, numel)");
  const std::optional<torch::ScalarType> dtype = storage_dtype(item(1).text);
  if (!dtype) fail("storage type " + item(1).text + " is not one piade reads (quantized?)");
  Node storage;
  storage.kind = Kind::storage;
  storage.dtype = *dtype;
  storage.text = item(2).text;
  storage.integer = item(4).integer;
  return add(std::move(storage));
}

// ---- The archive

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

/// A record's bytes; LibTorch's errors (a bad CRC, a truncated entry) say which.
std::tuple<at::DataPtr, std::size_t> read_record(caffe2::serialize::PyTorchStreamReader& zip, const std::string& name) {
  try {
    return zip.getRecord(name);
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot read '" + name + "' in the zip archive (" +
                             first_line(e.what_without_backtrace()) +
                             "); the file is corrupt: download or save it again");
  }
}

constexpr const char* kSaveStateDict = "torch.save(model.state_dict(), 'out.pth')";

/// The tensors that a state dict's nodes describe, read from the archive's
/// storage records, each record once.
class TensorReader {
 public:
  TensorReader(caffe2::serialize::PyTorchStreamReader& zip, const Unpickler& pickle) : zip_(zip), pickle_(pickle) {}

  torch::Tensor tensor(const std::string& name, const Node& node) {
    const Node& storage_node = pickle_.at(node.items.at(0));
    const std::size_t rank = node.dims.size() / 2;
    const std::vector<int64_t> sizes(node.dims.begin(), node.dims.begin() + static_cast<std::ptrdiff_t>(rank));
    const std::vector<int64_t> strides(node.dims.begin() + static_cast<std::ptrdiff_t>(rank), node.dims.end());
    const auto options = torch::TensorOptions().dtype(storage_node.dtype);
    // The furthest element the view reaches must lie in its storage.
    bool empty = false;
    uint64_t last = static_cast<uint64_t>(node.integer);
    bool overflow = false;
    for (std::size_t d = 0; d < rank; ++d) {
      if (sizes[d] == 0) empty = true;
      uint64_t step = 0;
      overflow |= __builtin_mul_overflow(static_cast<uint64_t>(sizes[d] > 0 ? sizes[d] - 1 : 0),
                                         static_cast<uint64_t>(strides[d]), &step);
      overflow |= __builtin_add_overflow(last, step, &last);
    }
    if (empty) return torch::empty(sizes, options);
    if (overflow || last >= static_cast<uint64_t>(storage_node.integer))
      throw std::runtime_error("tensor '" + name + "' reaches element " +
                               (overflow ? std::string("beyond 2^64") : std::to_string(last)) + " of its " +
                               std::to_string(storage_node.integer) +
                               "-element storage; the file is corrupt: download or save it again");
    const c10::Storage storage = load(storage_node);
    torch::Tensor view = torch::empty({0}, options).set_(storage, node.integer, sizes, strides);
    // A view of a whole storage in row-major order is returned as it is;
    // any other (a slice, a transpose, several tensors in one storage) is
    // copied into memory of its own.
    if (node.integer == 0 && view.numel() == storage_node.integer &&
        view.strides() == torch::IntArrayRef(c10::contiguous_strides(sizes)))
      return view;
    return view.clone(at::MemoryFormat::Contiguous);
  }

 private:
  c10::Storage load(const Node& node) {
    const std::string name = "data/" + node.text;
    auto found = storages_.find(node.text);
    if (found == storages_.end()) {
      if (!zip_.hasRecord(name))
        throw std::runtime_error("the pickle refers to '" + name +
                                 "', which the zip archive lacks; the file is corrupt: download or save it again");
      auto [data, size] = read_record(zip_, name);
      found = storages_
                  .emplace(node.text, c10::Storage(c10::Storage::use_byte_size_t(), size, std::move(data),
                                                   /*allocator=*/nullptr, /*resizable=*/false))
                  .first;
    }
    // Checked for every reference, as another could give the record another dtype or length.
    const uint64_t size = found->second.nbytes();
    const uint64_t element = c10::elementSize(node.dtype);
    const uint64_t numel = static_cast<uint64_t>(node.integer);
    if (numel > size / element || numel * element != size)
      throw std::runtime_error("'" + name + "' holds " + std::to_string(size) + " bytes, but " +
                               std::to_string(numel) + " " + c10::toString(node.dtype) + " elements need " +
                               (numel > UINT64_MAX / element ? std::string("more than 2^64")
                                                             : std::to_string(numel * element)) +
                               "; the file is corrupt: download or save it again");
    return found->second;
  }

  caffe2::serialize::PyTorchStreamReader& zip_;
  const Unpickler& pickle_;
  std::map<std::string, c10::Storage> storages_;
};

}  // namespace

bool is_legacy_torch_save(const char* bytes, std::size_t size) {
  // torch/serialization.py _legacy_save pickles MAGIC_NUMBER =
  // 0x1950a86a20f9469cfc6c first: PROTO, at protocol 4 and 5 a FRAME, then
  // LONG1 with its 10 little-endian bytes.
  static const unsigned char kMagic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  const auto* data = reinterpret_cast<const unsigned char*>(bytes);
  if (size < 2 || data[0] != 0x80) return false;
  std::size_t at = 2;
  if (size > at && data[at] == 0x95) at += 9;
  return size >= at + sizeof kMagic && std::memcmp(data + at, kMagic, sizeof kMagic) == 0;
}

std::map<std::string, torch::Tensor> read_torch_save(const std::string& path) {
  {
    // Before LibTorch allocates a record's declared size (a zip bomb).
    std::ifstream in(path, std::ios::binary);
    const std::string problem = zip_records_problem(in);
    if (!problem.empty())
      throw std::runtime_error("not a readable torch.save zip archive: " + problem +
                               "; the file is corrupt or was not written by torch.save");
  }
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    throw std::runtime_error("not a readable torch.save zip archive (" + first_line(e.what_without_backtrace()) +
                             "); the file is truncated or corrupt: download or save it again");
  }
  if (zip->hasRecord("constants.pkl"))
    throw std::runtime_error("a TorchScript archive (torch.jit.save), not a state dict; save the model's state dict "
                             "instead: " + std::string(kSaveStateDict));
  if (!zip->hasRecord("data.pkl"))
    throw std::runtime_error("a zip archive without data.pkl, not a torch.save file; save a state dict: " +
                             std::string(kSaveStateDict));
  if (zip->hasRecord("byteorder")) {
    auto [order, size] = read_record(*zip, "byteorder");
    const std::string text(static_cast<const char*>(order.get()), size);
    if (text != "little")
      throw std::runtime_error("saved with byte order '" + text + "', and piade reads 'little' only; save it on "
                               "a little-endian machine (x86, ARM) or convert it to safetensors");
  }

  auto [pickle_data, pickle_size] = read_record(*zip, "data.pkl");
  Unpickler pickle(static_cast<const char*>(pickle_data.get()), pickle_size);
  std::size_t root_index = 0;
  try {
    root_index = pickle.run();
  } catch (const PickleError& e) {
    std::string message = std::string("cannot read the pickle in it (") + e.what() + ")";
    if (!pickle.first_class().empty())
      message += "; it holds a pickled " + pickle.first_class() + " object, so it is probably a whole model, " +
                 "not a state dict";
    throw std::runtime_error(message + "; save a state dict: " + kSaveStateDict);
  }

  const Node& root = pickle.at(root_index);
  if (root.kind == Kind::object) {
    if (root.module)
      throw std::runtime_error("a whole pickled model (" + root.text + "), not a state dict; save model.state_dict() "
                               "instead: " + kSaveStateDict);
    throw std::runtime_error("the file holds " + described(root) + ", not a dict of tensors; save a state dict: " +
                             kSaveStateDict);
  }
  if (root.kind != Kind::dict)
    throw std::runtime_error("the file holds " + described(root) + ", not a dict of tensors; save a state dict: " +
                             kSaveStateDict);

  TensorReader reader(*zip, pickle);
  std::map<std::string, torch::Tensor> tensors;
  for (std::size_t i = 0; i < root.items.size(); i += 2) {
    const Node& key = pickle.at(root.items[i]);
    const Node& value = pickle.at(root.items[i + 1]);
    if (key.kind != Kind::string)
      throw std::runtime_error("a key is " + described(key) + ", not a str; save a state dict: " + kSaveStateDict);
    const std::string& name = key.text;
    if (value.kind == Kind::tensor) {
      tensors[name] = reader.tensor(name, value);
    } else if (value.kind == Kind::dict) {
      throw std::runtime_error("entry '" + name + "' is a dict, not a tensor (a training checkpoint?); save the "
                               "state dict alone, e.g. torch.save(checkpoint['" + name + "'], 'out.pth')");
    } else if (value.kind == Kind::object && value.text.rfind("torch._utils._rebuild_", 0) == 0) {
      throw std::runtime_error("entry '" + name + "' is a tensor that " + value.text +
                               " rebuilds (quantized, sparse or not on a CPU or GPU), which piade does not read; "
                               "save dense tensors");
    } else {
      throw std::runtime_error("entry '" + name + "' is " + described(value) +
                               ", not a tensor; save a flat state dict: " + kSaveStateDict);
    }
  }
  return tensors;
}

}  // namespace piade::detail
