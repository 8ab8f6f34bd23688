"""The training job: order history in, a published snapshot out (`basketry train`).

Stages, one module each: `reading` (files to canonical columns), `cleaning` (typed rows,
drops counted per reason), `catalog` (item attributes), `matrices` (id indexes, purchase
history, ALS confidence), `als` (latent factors), `copurchase` (bought-together partners),
`popularity`, `assemble` (snapshot arrays and manifest), `pipeline` (runs the stages),
`cli` (the command).
"""
