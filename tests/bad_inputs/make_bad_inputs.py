#!/usr/bin/env python3
"""Writes piade's bad-input corpus (issue 16, docs/reliability.md) into a directory.

    make_bad_inputs.py CORPUS_DIR CHECKPOINT

CHECKPOINT is a small trained checkpoint.pt: the corrupted checkpoints are made
from it. Writes the files of every case and CORPUS_DIR/cases.json, a list of
{"name", "args", "culprit"}: the `piade` arguments of the case, where @CORPUS@
is CORPUS_DIR, @RUN@ the directory holding CHECKPOINT and @OUT@ a fresh output
path of the case's own; and the text the one-line error must contain (the file,
field, option or plugin at fault). tests/cli/bad_input_test.cpp runs every
case and expects exit code 1, no signal, no hang, that one line, and no earlier
output changed. Only the standard library, so that it runs wherever the tests do;
nothing large is kept in the repository: the bombs are generated here.
"""
import gzip
import json
import os
import random
import shutil
import struct
import sys
import zipfile
import zlib

corpus = os.path.abspath(sys.argv[1])
checkpoint = os.path.abspath(sys.argv[2])
os.makedirs(corpus, exist_ok=True)
cases = []

TINY = ["--max-train", "8", "--batch-size", "4", "--backbone", "resnet18", "--loss", "mse",
        "--threads", "1", "--progress=false", "--epochs", "1"]


def path(*parts):
    return os.path.join(corpus, *parts)


def write(name, data):
    full = path(name)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)
    return full


def case(name, args, culprit, may_leave=()):
    """`may_leave`: names of files the case may write under @OUT@ (a record of what went wrong)."""
    cases.append({"name": name, "args": args, "culprit": culprit, "may_leave": list(may_leave)})


def train(*args):
    return ["train"] + TINY + list(args) + ["--out", "@OUT@"]


def score(checkpoint_arg, *images):
    return ["score", "--checkpoint", checkpoint_arg, "--threads", "1", "--out", "@OUT@.csv"] + list(images)


# --- images -------------------------------------------------------------------

def png(width, height, gray):
    """A valid 8-bit grey PNG; `gray` None writes only the signature and IHDR."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    if gray is None:
        return head
    rows = b"".join(b"\x00" + bytes([gray]) * width for _ in range(height))
    return head + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


GOOD_PNG = png(28, 28, 90)
good_image = write("images/good.png", GOOD_PNG)
write("images/garbage.png", b"this is not an image\n" * 4)
write("images/huge_header.png", png(20000, 20000, None))
# A baseline JPEG cut after its header: libjpeg only warns and fills grey.
write("images/truncated.jpg", bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f141d1a1f1e1d1a1c1c"
    "20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b08001c001c01011100ffc4001f00000105010101010101"
    "00000000000000000102030405060708090a0bffda0008010100003f00"))
os.mkfifo(path("images/fifo.png"))
os.makedirs(path("images/a_directory.png"), exist_ok=True)

for name, image, culprit in [("score_garbage_image", "images/garbage.png", "garbage.png"),
                             ("score_huge_image_header", "images/huge_header.png", "huge_header.png"),
                             ("score_truncated_jpeg", "images/truncated.jpg", "truncated.jpg"),
                             ("score_fifo", "images/fifo.png", "fifo.png"),
                             ("score_directory_as_image", "images/a_directory.png", "a_directory.png"),
                             ("score_missing_image", "images/missing.png", "missing.png")]:
    case(name, score("@RUN@", path(image)), culprit)

# --- IDX (Fashion-MNIST layout) -------------------------------------------------

def idx(dims, payload_size=None, magic_type=0x08):
    """An IDX file; a one-dimensional one holds labels 0..9 in turn, so that every class has images."""
    header = struct.pack(">BBBB", 0, 0, magic_type, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    count = 1
    for d in dims:
        count *= d
    if payload_size is None and len(dims) == 1:
        return header + bytes(i % 10 for i in range(count))
    return header + bytes(count if payload_size is None else payload_size)


def idx_set(name, **override):
    files = {"train-images-idx3-ubyte": idx([20, 28, 28]), "train-labels-idx1-ubyte": idx([20]),
             "t10k-images-idx3-ubyte": idx([10, 28, 28]), "t10k-labels-idx1-ubyte": idx([10])}
    files.update(override)
    for file, data in files.items():
        if data is not None:
            write(f"idx/{name}/{file}", data)
    return path("idx", name)


def train_idx(name, culprit, **override):
    case(f"idx_{name}", train("--dataset", "fmnist", "--data-root", idx_set(name, **override)), culprit)


train_idx("truncated_images", "train-images-idx3-ubyte", **{"train-images-idx3-ubyte": idx([20, 28, 28])[:5000]})
train_idx("bad_magic", "train-images-idx3-ubyte", **{"train-images-idx3-ubyte": b"\x12\x34" + idx([20, 28, 28])[2:]})
train_idx("dims_overflow", "train-images-idx3-ubyte",
          **{"train-images-idx3-ubyte": idx([0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], payload_size=64)})
train_idx("label_count_mismatch", "train-labels-idx1-ubyte", **{"train-labels-idx1-ubyte": idx([19])})
train_idx("labels_too_long", "train-labels-idx1-ubyte", **{"train-labels-idx1-ubyte": idx([20]) + bytes(100)})
train_idx("not_gzip", "train-images-idx3-ubyte.gz", **{"train-images-idx3-ubyte": None,
                                                        "train-images-idx3-ubyte.gz": b"\x1f\x8bnot really gzip"})
train_idx("gzip_truncated", "train-images-idx3-ubyte.gz",
          **{"train-images-idx3-ubyte": None,
             "train-images-idx3-ubyte.gz": gzip.compress(idx([20, 28, 28], payload_size=0)
                                                         + random.Random(16).randbytes(20 * 28 * 28))[:4000]})


def gzip_bomb(header, zeros):
    """A gzip member: `header`, then `zeros` zero bytes (a multiple of 16 MiB): MBs on disk for GBs.

    After a full flush deflate starts afresh, so every 16 MiB block of zeros
    compresses to the same bytes: one block is compressed and repeated."""
    block = bytes(1 << 24)
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = squeeze.compress(header) + squeeze.flush(zlib.Z_FULL_FLUSH)
    repeated = squeeze.compress(block) + squeeze.flush(zlib.Z_FULL_FLUSH)
    tail = squeeze.flush(zlib.Z_FINISH)
    crc = zlib.crc32(header)
    for _ in range(zeros >> 24):
        crc = zlib.crc32(block, crc)
    total = len(header) + zeros
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + head + repeated * (zeros >> 24) + tail
            + struct.pack("<II", crc & 0xFFFFFFFF, total & 0xFFFFFFFF))


# Declares 20 images but inflates to 8 GiB: a reader that inflates first runs
# out of memory (the test limits each case's address space).
train_idx("gzip_bomb", "train-images-idx3-ubyte.gz",
          **{"train-images-idx3-ubyte": None,
             "train-images-idx3-ubyte.gz": gzip_bomb(struct.pack(">BBBBIII", 0, 0, 8, 3, 20, 28, 28), 8 << 30)})
# Declares 2^32-1 images of 28 x 28: 3 TB that the file cannot hold.
train_idx("declared_too_large", "train-images-idx3-ubyte",
          **{"train-images-idx3-ubyte": idx([0xFFFFFFFF, 28, 28], payload_size=28 * 28 * 4)})

# --- CIFAR-10 -------------------------------------------------------------------

def cifar_set(name, batch1):
    for i in range(2, 6):
        write(f"cifar/{name}/data_batch_{i}.bin", bytes(3073 * 2))
    write(f"cifar/{name}/test_batch.bin", bytes(3073 * 2))
    if batch1 is None:
        os.makedirs(path("cifar", name, "data_batch_1.bin"), exist_ok=True)
    else:
        write(f"cifar/{name}/data_batch_1.bin", batch1)
    return path("cifar", name)


case("cifar_batch_is_directory", train("--dataset", "cifar10", "--data-root", cifar_set("dir", None)),
     "data_batch_1.bin")
case("cifar_batch_not_whole_records", train("--dataset", "cifar10", "--data-root", cifar_set("odd", bytes(3073 * 2 + 17))),
     "data_batch_1.bin")
case("cifar_label_out_of_range", train("--dataset", "cifar10", "--data-root",
                                       cifar_set("label", b"\x0b" + bytes(3072) + bytes(3073))), "data_batch_1.bin")

# --- COIL-100, folder, MVTec ----------------------------------------------------

write("coil/obj1__0.png", GOOD_PNG)
write("coil/obj1__5.png", GOOD_PNG)
write("coil/obj99999999999999999999__0.png", GOOD_PNG)
case("coil_object_number_overflow", train("--dataset", "coil100", "--data-root", path("coil"), "--normal-class", "1"),
     "obj99999999999999999999__0.png")

for i in range(4):
    write(f"folder/loop/train/good/{i}.png", GOOD_PNG)
    write(f"folder/loop/test/good/{i}.png", GOOD_PNG)
    write(f"folder/loop/test/bad/{i}.png", GOOD_PNG)
os.symlink(".", path("folder/loop/train/good/again"))  # a directory that contains itself
os.symlink("cycle_b", path("folder/loop/train/good/cycle_a.png"))
os.symlink("cycle_a.png", path("folder/loop/train/good/cycle_b"))
case("folder_symlink_loop", train("--dataset", "folder", "--data-root", path("folder/loop")), "cycle_")

for name, image in [("garbage", "images/garbage.png"), ("huge_header", "images/huge_header.png"),
                    ("truncated", "images/truncated.jpg")]:
    root = f"folder/{name}"
    for i in range(4):
        write(f"{root}/train/good/{i}.png", GOOD_PNG)
        write(f"{root}/test/good/{i}.png", GOOD_PNG)
        write(f"{root}/test/bad/{i}.png", GOOD_PNG)
    shutil.copy(path(image), path(root, "train/good", os.path.basename(image)))
    case(f"folder_{name}_image", train("--dataset", "folder", "--data-root", path(root)), os.path.basename(image))

# --- checkpoints and model files ------------------------------------------------

original = open(checkpoint, "rb").read()
write("checkpoints/empty.pt", b"")
write("checkpoints/text.pt", b"hello, I am not a checkpoint\n")
write("checkpoints/truncated.pt", original[: len(original) // 2])
write("checkpoints/truncated_tail.pt", original[:-200])


def record_data_offset(data, name):
    """Offset of a stored zip member's bytes in `data` (local header + name + extra)."""
    with zipfile.ZipFile(checkpoint) as archive:
        info = archive.getinfo(name)
    header = info.header_offset
    name_length, extra_length = struct.unpack("<HH", data[header + 26: header + 30])
    return header + 30 + name_length + extra_length, info.file_size


with zipfile.ZipFile(checkpoint) as archive:
    members = archive.infolist()
    prefix = members[0].filename.split("/")[0]
    # The largest tensor record: a flipped byte there changes a weight, not the structure.
    largest = max((m for m in members if "/data/" in m.filename), key=lambda m: m.file_size)
offset, size = record_data_offset(original, largest.filename)
flipped = bytearray(original)
flipped[offset + size // 2] ^= 0x40
write("checkpoints/flipped_weight.pt", bytes(flipped))
case("checkpoint_flipped_weight_byte", score(path("checkpoints/flipped_weight.pt"), good_image), "flipped_weight.pt")

# The same tensor record deflated, its central directory entry claiming 4 GiB:
# a zip bomb for a reader that allocates a record at the size it declares.
with zipfile.ZipFile(checkpoint) as source, zipfile.ZipFile(path("checkpoints/zip_bomb.pt"), "w") as bomb:
    for member in source.infolist():
        compress = zipfile.ZIP_DEFLATED if member.filename == largest.filename else zipfile.ZIP_STORED
        bomb.writestr(member.filename, source.read(member.filename), compress_type=compress)
bomb = bytearray(open(path("checkpoints/zip_bomb.pt"), "rb").read())
entry = 0
while True:
    entry = bomb.find(b"PK\x01\x02", entry)
    name_length = struct.unpack("<H", bomb[entry + 28: entry + 30])[0]
    if bomb[entry + 46: entry + 46 + name_length] == largest.filename.encode():
        break
    entry += 4
bomb[entry + 24: entry + 28] = struct.pack("<I", 0xFFFFFFF0)
write("checkpoints/zip_bomb.pt", bytes(bomb))

for name in ["empty", "text", "truncated", "truncated_tail", "zip_bomb"]:
    case(f"checkpoint_{name}", score(path(f"checkpoints/{name}.pt"), good_image), f"{name}.pt")
case("eval_truncated_checkpoint", ["eval", "--checkpoint", path("checkpoints/truncated.pt"), "--threads", "1",
                                   "--max-test", "20", "--out", "@OUT@"], "truncated.pt")
case("export_truncated_checkpoint", ["export", "--checkpoint", path("checkpoints/truncated.pt"),
                                     "--out", "@OUT@.safetensors"], "truncated.pt")
case("config_text_checkpoint", ["config", "--checkpoint", path("checkpoints/text.pt")], "text.pt")
case("resume_from_truncated", ["train", "--resume", "--dataset", "fmnist", "--max-train", "8", "--batch-size", "4",
                               "--threads", "1", "--progress=false", "--out", path("checkpoints/resume_truncated")],
     "checkpoint.pt")
os.makedirs(path("checkpoints/resume_truncated"), exist_ok=True)
shutil.copy(path("checkpoints/truncated.pt"), path("checkpoints/resume_truncated/checkpoint.pt"))

# --- weights files (safetensors, .pth) ------------------------------------------

def safetensors(header, payload=b""):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + payload


write("weights/header_longer_than_file.safetensors", struct.pack("<Q", 1 << 40) + b"{}")
write("weights/offsets_past_end.safetensors",
      safetensors({"conv1.weight": {"dtype": "F32", "shape": [64, 3, 7, 7], "data_offsets": [0, 37632]}}, bytes(64)))
write("weights/shape_overflow.safetensors",
      safetensors({"conv1.weight": {"dtype": "F32", "shape": [1 << 62, 1 << 62], "data_offsets": [0, 16]}}, bytes(16)))
write("weights/deep.safetensors", struct.pack("<Q", 200000) + b"[" * 100000 + b"]" * 100000)
write("weights/not_json.safetensors", struct.pack("<Q", 8) + b"garbage!")
write("weights/garbage.pth", b"\x80\x02this is neither a zip archive nor safetensors")
for name in ["header_longer_than_file.safetensors", "offsets_past_end.safetensors", "shape_overflow.safetensors",
             "deep.safetensors", "not_json.safetensors", "garbage.pth"]:
    case("weights_" + name.replace(".", "_"),
         train("--set", "backbone.weights=" + path("weights", name)), name)

# --- configuration files and grids ----------------------------------------------

write("config/duplicate_key.ini", b"[backbone]\nreduction = 4\nreduction = 8\n")
write("config/unknown_key.ini", b"epochs = 1\nepoks = 2\n")
write("config/bad_value.ini", b"epochs = many\n")
write("config/deep_json.json", b"[" * 100000 + b"]" * 100000)
write("config/binary.ini", bytes(range(256)) * 4)
os.makedirs(path("config/a_directory.ini"), exist_ok=True)
os.mkfifo(path("config/fifo.ini"))
for name, culprit in [("duplicate_key.ini", "reduction"), ("unknown_key.ini", "epoks"), ("bad_value.ini", "epochs"),
                      ("binary.ini", "binary.ini"), ("a_directory.ini", "a_directory.ini"), ("fifo.ini", "fifo.ini")]:
    case("config_" + name.replace(".", "_"), ["config", "--config", path("config", name)], culprit)
case("train_config_duplicate_key", train("--config", path("config/duplicate_key.ini")), "reduction")

write("grids/huge.ini", b"dataset = fmnist\nepochs = 1\n[axes]\n"
      + b"".join(f"{key} = {', '.join(str(v) for v in range(1, 1001))}\n".encode()
                 for key in ["seed", "max-train", "batch-size", "epochs"]) + b"[compare]\nclasses = 0\n")
write("grids/same_value_twice.ini", b"dataset = fmnist\nepochs = 1\nmax-train = 8\n[axes]\nbatch-size = 2, 02\n"
      b"[compare]\nclasses = 0\n")
write("grids/no_axes.ini", b"dataset = fmnist\n[axes\n")
write("grids/small.ini", b"dataset = fmnist\nepochs = 1\nmax-train = 8\nbackbone = resnet18\nloss = mse\n"
      b"[axes]\nbatch-size = 2, 4\n[compare]\nclasses = 0\n")
case("grid_expands_too_far", ["compare", path("grids/huge.ini"), "--out", "@OUT@", "--list"], "huge.ini")
case("grid_same_value_twice", ["compare", path("grids/same_value_twice.ini"), "--out", "@OUT@", "--list"], "02")
case("grid_bad_syntax", ["compare", path("grids/no_axes.ini"), "--out", "@OUT@", "--list"], "no_axes.ini")
case("grid_too_many_seeds", ["compare", path("grids/small.ini"), "--out", "@OUT@", "--list", "--seeds",
                             "1000000000000"], "--seeds")

# --- options --------------------------------------------------------------------

case("option_negative_threads", train("--threads", "-1"), "--threads")
case("option_negative_image_size", train("--image-size", "-3"), "--image-size")
case("option_epochs_not_a_number", train("--epochs", "many"), "epochs")
case("option_unknown_dataset", train("--dataset", "imagenet"), "--dataset")
case("option_unknown_backbone", train("--backbone", "resnet9000"), "resnet9000")
case("option_unknown_plugin_parameter", train("--set", "backbone.depth=3"), "depth")
# Diverges at once: the error names the loss term; the log of the steps so far stays.
case("option_infinite_learning_rate", train("--lr", "inf"), "loss/mse", may_leave=["train_log.csv"])
case("option_missing_data_root", train("--dataset", "cifar10", "--data-root", path("nowhere")), "nowhere")
case("eval_missing_data_root", ["eval", "--checkpoint", "@RUN@", "--threads", "1", "--data-root", path("nowhere"),
                                "--out", "@OUT@"], "nowhere")
# --overwrite of an earlier evaluation with data that cannot be read: the earlier one stays.
case("eval_overwrite_with_bad_data", ["eval", "--checkpoint", "@RUN@", "--threads", "1", "--overwrite",
                                      "--data-root", idx_set("eval_truncated", **{"t10k-images-idx3-ubyte":
                                                                                  idx([10, 28, 28])[:3000]}),
                                      "--out", "@RUN@/eval"],
     "t10k-images-idx3-ubyte")
case("export_unknown_format", ["export", "--checkpoint", "@RUN@", "--format", "onnx", "--out", "@OUT@.onnx"],
     "--format")
case("plugins_info_unknown", ["plugins", "info", "no_such_component"], "no_such_component")
case("bench_garbage_weights", ["bench", "--threads", "1", "--set", "backbone.weights=" + path("weights/garbage.pth")],
     "garbage.pth")
case("bench_zero_image_size", ["bench", "--threads", "1", "--image-size", "0"], "image-size")

with open(path("cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
print(f"{len(cases)} cases in {path('cases.json')}")
