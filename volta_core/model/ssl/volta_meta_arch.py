"""VolTA-3D self-supervised meta-architecture: student, EMA teacher and the three losses.

Student input is the masked view (3D blocks replaced by noise, built by the data
loader); the teacher sees the clean views. One student pass yields the class token for
the cross-view DINO loss, the masked patch tokens for the iBOT loss and the tokens the
light decoder turns back into voxels for the reconstruction loss.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from volta_core.model.heads.dino_head import DINOHead
from volta_core.model.heads.recon_decoder import ReconstructionDecoder3D
from volta_core.model.ssl.dino_clstoken_loss import DINOClsTokenLoss
from volta_core.model.ssl.ibot_patch_loss import IBOTPatchLoss
from volta_core.model.ssl.koleo_loss import koleo_loss
from volta_core.model.ssl.reconstruction_loss import ReconstructionLoss
from volta_core.model.vit3d import EncoderOutput, VisionTransformer3D, build_encoder

__all__ = ["NonFiniteLossError", "VoltaSSL", "VoltaSSLConfig"]


def feature_dimension(features: Tensor) -> Tensor:
    """Effective dimension of a batch of features: the participation ratio of their covariance
    spectrum, ``(sum l)^2 / sum l^2`` (1 = every sample on one line; at most the batch size - 1).

    The DINO head's diversity misses a backbone whose features collapsed to one direction that
    the head spreads over many prototypes (measured on a real-scan run: head diversity 0.6,
    backbone dimension 1.3); this watches the backbone itself."""
    x = features.detach().float()
    if not bool(torch.isfinite(x).all()):  # a diverged step: the loss check names it, not the SVD
        return x.new_tensor(float("nan"))
    x = x - x.mean(0, keepdim=True)
    eig = torch.linalg.svdvals(x) ** 2
    total = eig.sum()
    return (total ** 2 / (eig ** 2).sum()) if float(total) > 0 else total


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or Inf.

    Attributes:
        term: Name of the offending term (e.g. ``"loss_local"``).
        value: Its value as a float.
    """

    def __init__(self, term: str, value: float) -> None:
        self.term, self.value = term, value
        super().__init__(
            f"{term} is {value}: training diverged. Lower the learning rate, raise the warm-up, "
            f"check the input intensities for NaN/Inf, or resume from the last good checkpoint."
        )


@dataclass
class VoltaSSLConfig:
    """Hyper-parameters of :class:`VoltaSSL` (plain data: serialisable to YAML/JSON).

    Attributes:
        encoder: Encoder preset name (ignored when a module is passed to VoltaSSL).
        encoder_overrides: Kwargs for the preset (e.g. ``{"img_size": [96, 96, 96]}``).
        head_out_dim, head_hidden_dim, head_bottleneck_dim, head_nlayers: DINOHead sizes.
        ibot_separate_head: Own head for the iBOT loss (True) or share the DINO head.
        student_temp, center_momentum: Loss temperatures / centre EMA.
        w_global, w_local, w_recon: Loss weights; 0 switches a term off (not computed).
        recon_loss: ``"mse"`` or ``"l1"``.
        recon_norm_pix: Per-patch normalised reconstruction target.
        recon_hidden_dim: Hidden width of the reconstruction decoder (None = linear).
        mask_mode: ``"input"``: the student sees ``masked_views`` (VolTA, noise in the
            input); ``"token"``: the student sees ``global_views`` with the masked tokens
            replaced by the learned mask token (iBOT).
        global_on_masked: The DINO loss uses the student's masked-view class token (one
            student pass, iBOT/DINOv2 style). False = an extra clean student pass.
        w_koleo: Weight of the KoLeo term on the student backbone's class tokens, per view
            (:func:`~volta_core.model.ssl.koleo_loss.koleo_loss`; DINOv2 uses 0.1); 0 = off.
    """

    encoder: str = "vit3d_tiny"
    encoder_overrides: dict[str, Any] = field(default_factory=dict)
    head_out_dim: int = 1024
    head_hidden_dim: int = 512
    head_bottleneck_dim: int = 128
    head_nlayers: int = 3
    ibot_separate_head: bool = True
    student_temp: float = 0.1
    center_momentum: float = 0.9
    w_global: float = 1.0
    w_local: float = 1.0
    w_recon: float = 1.0
    recon_loss: Literal["mse", "l1"] = "mse"
    recon_norm_pix: bool = False
    recon_hidden_dim: int | None = None
    mask_mode: Literal["input", "token"] = "input"
    global_on_masked: bool = True
    w_koleo: float = 0.0

    def validate(self) -> None:
        """Raise ValueError on inconsistent settings."""
        weights = dict(w_global=self.w_global, w_local=self.w_local, w_recon=self.w_recon)
        if self.w_koleo < 0:
            raise ValueError(f"w_koleo must be >= 0, got {self.w_koleo}.")
        if any(w < 0 for w in weights.values()):
            raise ValueError(f"loss weights must be >= 0, got {weights}.")
        if all(w == 0 for w in weights.values()):
            raise ValueError("all loss weights are 0: nothing to train.")
        if self.mask_mode not in ("input", "token"):
            raise ValueError(f"mask_mode must be 'input' or 'token', got {self.mask_mode!r}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict copy (for the run folder's resolved config)."""
        return asdict(self)


def _unwrap(module: nn.Module) -> nn.Module:
    """Strip DDP / FSDP-like wrappers exposing ``.module``."""
    while hasattr(module, "module") and isinstance(module.module, nn.Module):
        module = module.module
    return module


class VoltaSSL(nn.Module):
    """Student (encoder, DINO head, iBOT head, reconstruction decoder) + EMA teacher.

    Args:
        encoder: Preset name or a built :class:`VisionTransformer3D` (the student's).
            Defaults to ``cfg.encoder``.
        cfg: Hyper-parameters; fields may also be given as keyword ``overrides``.
        **overrides: ``VoltaSSLConfig`` fields replacing those of ``cfg``.

    Under DDP, wrap the student modules (or pass ``find_unused_parameters=True``): a head
    or decoder whose loss weight is 0 gets no gradient.

    Attributes:
        student: ``ModuleDict`` with ``encoder``, ``dino_head``, [``ibot_head``], ``recon_decoder``.
        teacher: ``ModuleDict`` with ``encoder``, ``dino_head``, [``ibot_head``]; frozen, always eval.
    """

    def __init__(
        self,
        encoder: str | VisionTransformer3D | None = None,
        cfg: VoltaSSLConfig | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        cfg = copy.deepcopy(cfg) if cfg is not None else VoltaSSLConfig()
        for key, value in overrides.items():
            if not hasattr(cfg, key):
                raise ValueError(f"unknown VoltaSSL option {key!r}; valid: {sorted(cfg.to_dict())}.")
            setattr(cfg, key, value)
        cfg.validate()
        if encoder is None:
            encoder = cfg.encoder
        if isinstance(encoder, str):
            cfg.encoder = encoder
            encoder = build_encoder(encoder, **cfg.encoder_overrides)
        self.cfg = cfg
        if cfg.mask_mode == "input":
            # the learned mask token is unused when masking happens in the input; freezing it
            # keeps DDP from waiting for its gradient
            encoder.mask_token.requires_grad_(False)
        self.student = self._build_student(encoder, cfg)
        self.teacher = self._build_teacher(self.student)
        self.dino_loss = DINOClsTokenLoss(cfg.head_out_dim, cfg.student_temp, cfg.center_momentum)
        self.ibot_loss = IBOTPatchLoss(cfg.head_out_dim, cfg.student_temp, cfg.center_momentum)
        self.recon_loss = ReconstructionLoss(cfg.recon_loss, encoder.patch_size, cfg.recon_norm_pix)

    # ------------------------------------------------------------------ build
    @staticmethod
    def _build_student(encoder: VisionTransformer3D, cfg: VoltaSSLConfig) -> nn.ModuleDict:
        def head() -> DINOHead:
            return DINOHead(encoder.embed_dim, cfg.head_out_dim, cfg.head_hidden_dim,
                            cfg.head_bottleneck_dim, cfg.head_nlayers)

        modules: dict[str, nn.Module] = {"encoder": encoder, "dino_head": head()}
        if cfg.ibot_separate_head:
            modules["ibot_head"] = head()
        modules["recon_decoder"] = ReconstructionDecoder3D(
            encoder.embed_dim, encoder.patch_size, encoder.in_chans, cfg.recon_hidden_dim
        )
        return nn.ModuleDict(modules)

    @staticmethod
    def _build_teacher(student: nn.ModuleDict) -> nn.ModuleDict:
        teacher = nn.ModuleDict({k: copy.deepcopy(_unwrap(m)) for k, m in student.items() if k != "recon_decoder"})
        for p in teacher.parameters():
            p.requires_grad_(False)
        return teacher.eval()

    def train(self, mode: bool = True) -> VoltaSSL:
        """Set train/eval mode for the student; the teacher always stays in eval."""
        super().train(mode)
        self.teacher.eval()
        return self

    @staticmethod
    def _ibot_head(modules: nn.ModuleDict) -> nn.Module:
        return modules["ibot_head"] if "ibot_head" in modules else modules["dino_head"]

    @property
    def student_encoder(self) -> VisionTransformer3D:
        """The student backbone (unwrapped)."""
        return _unwrap(self.student["encoder"])  # type: ignore[return-value]

    @property
    def teacher_encoder(self) -> VisionTransformer3D:
        """The EMA teacher backbone (usually the better one to fine-tune from)."""
        return self.teacher["encoder"]  # type: ignore[return-value]

    # -------------------------------------------------------------------- EMA
    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """EMA step ``teacher = m * teacher + (1 - m) * student`` for every teacher tensor.

        Args:
            momentum: ``m`` in [0, 1] (1 = teacher unchanged, 0 = copy of the student).
        """
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}.")
        t_params: list[Tensor] = []
        s_params: list[Tensor] = []
        for key, t_module in self.teacher.items():
            s_module = _unwrap(self.student[key])
            s_named = dict(s_module.named_parameters())
            for name, t_p in t_module.named_parameters():
                t_params.append(t_p)
                s_params.append(s_named[name].detach())
        torch._foreach_mul_(t_params, momentum)
        torch._foreach_add_(t_params, s_params, alpha=1.0 - momentum)

    # ---------------------------------------------------------------- forward
    @staticmethod
    def _check_batch(batch: dict[str, Tensor], need_masks: bool) -> tuple[Tensor, Tensor | None, Tensor | None]:
        if "global_views" not in batch:
            raise ValueError(f"batch lacks 'global_views'; got keys {sorted(batch)}.")
        views = batch["global_views"]
        if views.ndim != 5 or views.shape[0] % 2:
            raise ValueError(f"global_views must be (2B, C, D, H, W) with two views, got {tuple(views.shape)}.")
        if not need_masks:
            return views, None, None
        for key in ("masked_views", "token_masks"):
            if key not in batch:
                raise ValueError(f"batch lacks {key!r} (needed by the local / reconstruction losses).")
        masked, masks = batch["masked_views"], batch["token_masks"]
        if masked.shape != views.shape:
            raise ValueError(f"masked_views {tuple(masked.shape)} != global_views {tuple(views.shape)}.")
        if masks.dtype != torch.bool or masks.ndim != 2 or masks.shape[0] != views.shape[0]:
            raise ValueError(f"token_masks must be (2B, N) bool, got {masks.dtype} {tuple(masks.shape)}.")
        return views, masked, masks

    def _student_forward(self, views: Tensor, masked: Tensor | None, masks: Tensor | None) -> EncoderOutput:
        # views / masked: (2B, C, D, H, W); masks: (2B, N)
        encoder = self.student["encoder"]
        if masks is None:
            return encoder(views, return_layers=())
        if self.cfg.mask_mode == "token":
            return encoder(views, mask=masks, return_layers=())
        return encoder(masked, return_layers=())

    def forward(self, batch: dict[str, Tensor], teacher_temp: float) -> dict[str, Tensor]:
        """Compute the weighted SSL loss and diagnostics for one batch.

        In training mode the loss centres are updated (after the losses are computed).

        Args:
            batch: ``global_views (2B, C, D, H, W)`` view-major; ``masked_views`` same
                shape (student input); ``token_masks (2B, N)`` bool; optional
                ``voxel_masks (2B, [1,] D, H, W)`` bool for the reconstruction loss
                (default: the token mask expanded); optional ``local_views (V*B, C, d, h, w)``
                view-major extra student crops for the DINO loss.
            teacher_temp: Teacher softmax temperature.

        Returns:
            ``loss`` (weighted total, with grad), ``loss_global``, ``loss_local``,
            ``loss_recon`` (detached; 0 when switched off), ``loss_koleo`` (only when ``w_koleo`` > 0,
            with ``student_feature_dim``) and diagnostics
            ``teacher_entropy``, ``teacher_diversity`` (``H(mean p) - mean H(p)`` of the teacher's class-token
            distributions; 0 = collapsed), ``teacher_feature_dim`` (:func:`feature_dimension` of the
            teacher backbone's class tokens),
            ``teacher_patch_entropy``, ``mask_ratio``.

        Raises:
            NonFiniteLossError: A computed term is NaN or Inf.
        """
        cfg = self.cfg
        need_masks = cfg.w_local > 0 or cfg.w_recon > 0
        views, masked, masks = self._check_batch(batch, need_masks)
        with torch.no_grad():
            t_out = self.teacher["encoder"](views, return_layers=())
        s_out = self._student_forward(views, masked, masks)
        zero = views.new_zeros((), dtype=torch.float32)
        terms = {"loss_global": zero, "loss_local": zero, "loss_recon": zero}
        diag: dict[str, Tensor] = {}
        updates: list[tuple[Any, ...]] = []

        if cfg.w_global > 0:
            terms["loss_global"], t_cls = self._global_loss(batch, views, s_out, t_out, teacher_temp)
            t_probs = self.dino_loss.teacher_probs(t_cls, teacher_temp)
            diag["teacher_entropy"] = self.dino_loss.entropy(t_probs)
            diag["teacher_diversity"] = self.dino_loss.diversity(t_probs)
            diag["teacher_feature_dim"] = feature_dimension(t_out.cls_token)
            updates.append((self.dino_loss, t_cls))
        if cfg.w_local > 0:
            terms["loss_local"], t_patch = self._local_loss(s_out, t_out, masks, teacher_temp)
            diag["teacher_patch_entropy"] = self.ibot_loss.entropy(self.ibot_loss.teacher_probs(t_patch, teacher_temp))
            updates.append((self.ibot_loss, t_patch))
        if cfg.w_recon > 0:
            terms["loss_recon"] = self._recon_loss(batch, views, s_out, masks)
        if cfg.w_koleo > 0 and views.shape[0] >= 4:
            # per view, as DINOv2 does: each view's B class tokens are spread among themselves (a batch
            # of one scan per process has no neighbour to push away from: the term is left out)
            b = views.shape[0] // 2
            terms["loss_koleo"] = sum(koleo_loss(chunk) for chunk in s_out.cls_token[: 2 * b].split(b)) / 2
            diag["student_feature_dim"] = feature_dimension(s_out.cls_token[:b])
        if masks is not None:
            diag["mask_ratio"] = masks.float().mean()

        self._check_finite(terms)
        total = (cfg.w_global * terms["loss_global"] + cfg.w_local * terms["loss_local"]
                 + cfg.w_recon * terms["loss_recon"] + cfg.w_koleo * terms.get("loss_koleo", zero))
        self._check_finite({"loss": total})
        if self.training:
            for loss_module, logits in updates:
                loss_module.update_center(logits)
        out = {"loss": total, **{k: v.detach() for k, v in terms.items()}}
        out.update({k: v.detach() for k, v in diag.items()})
        out["teacher_temp"] = zero.new_tensor(teacher_temp)
        return out

    def _global_loss(
        self, batch: dict[str, Tensor], views: Tensor, s_out: EncoderOutput, t_out: EncoderOutput, teacher_temp: float
    ) -> tuple[Tensor, Tensor]:
        b = views.shape[0] // 2
        with torch.no_grad():
            # t_cls: (2B, K)
            t_cls = self.teacher["dino_head"](t_out.cls_token)
        if self.cfg.global_on_masked or (self.cfg.w_local == 0 and self.cfg.w_recon == 0):
            s_cls_tokens = s_out.cls_token
        else:
            s_cls_tokens = self.student["encoder"](views, return_layers=()).cls_token
        # s_cls: (2B [+ V*B], K)
        s_cls = self.student["dino_head"](s_cls_tokens)
        local = batch.get("local_views")
        if local is not None:
            if local.shape[0] % b:
                raise ValueError(f"local_views batch {local.shape[0]} is not a multiple of B={b}.")
            local_cls = self.student["encoder"](local, return_layers=()).cls_token
            s_cls = torch.cat([s_cls, self.student["dino_head"](local_cls)], dim=0)
        return self.dino_loss(s_cls, t_cls, teacher_temp, batch_size=b), t_cls

    def _local_loss(
        self, s_out: EncoderOutput, t_out: EncoderOutput, masks: Tensor, teacher_temp: float
    ) -> tuple[Tensor, Tensor]:
        if masks.shape[1] != s_out.patch_tokens.shape[1]:
            raise ValueError(
                f"token_masks has {masks.shape[1]} tokens, the encoder made {s_out.patch_tokens.shape[1]}."
            )
        with torch.no_grad():
            # t_patch: (M, K) at masked tokens only
            t_patch = self._ibot_head(self.teacher)(t_out.patch_tokens[masks])
        s_patch = self._ibot_head(self.student)(s_out.patch_tokens[masks])
        return self.ibot_loss.forward_masked(s_patch, t_patch, masks, teacher_temp), t_patch

    def _recon_loss(self, batch: dict[str, Tensor], views: Tensor, s_out: EncoderOutput, masks: Tensor) -> Tensor:
        # recon: (2B, C, D, H, W)
        recon = self.student["recon_decoder"](s_out.patch_tokens, s_out.grid)
        return self.recon_loss(recon, views, batch.get("voxel_masks", masks))

    @staticmethod
    def _check_finite(terms: dict[str, Tensor]) -> None:
        for name, value in terms.items():
            if not torch.isfinite(value.detach()).all():
                raise NonFiniteLossError(name, float(value.detach()))
