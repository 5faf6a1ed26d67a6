"""The central bucket: its facts and how they are read (`facts`), its checks (`checks`), its repairs
(`repairs`), and how they plug into the pipeline (`guard`)."""
