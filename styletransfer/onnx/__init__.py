"""ONNX Runtime on the CPU for the feed-forward methods: their trained nets exported once
per checkpoint to graphs of standard operators, checked against torch, cached on disk,
and run without importing torch.

* :mod:`styletransfer.onnx.runtime`: the cache folder, sessions, pictures as arrays,
  frames one per core (shared);
* :mod:`styletransfer.onnx.export`: export a torch module and check the graph (needs torch);
* :mod:`styletransfer.onnx.johnson`: the preset nets' graph (Johnson et al. 2016);
* :mod:`styletransfer.onnx.adain`: AdaIN's encoder and decoder graphs (Huang & Belongie 2017).

The methods themselves (model and math) stay one file each: :mod:`styletransfer.johnson`,
:mod:`styletransfer.adain`.
"""
