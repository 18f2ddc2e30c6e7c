//! The data sets and training plumbing of [`core_data::data`], re-exported, plus their
//! conversion to candle tensors ([`DatasetTensors`]).

pub use core_data::data::*;

use crate::error::Result;
use candle_core::{DType, Device, Tensor};

/// A [`Dataset`] as candle tensors.
pub trait DatasetTensors {
    /// Features as an `n × d` tensor of `dtype` and labels as `u32`, on `device`.
    fn tensors(&self, dtype: DType, device: &Device) -> Result<(Tensor, Tensor)>;
    /// The rows at `idx` as tensors (a mini-batch).
    fn batch_tensors(
        &self,
        idx: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<(Tensor, Tensor)>;
}

impl DatasetTensors for Dataset {
    fn tensors(&self, dtype: DType, device: &Device) -> Result<(Tensor, Tensor)> {
        let x = Tensor::from_slice(&self.x, (self.len(), self.d), device)?.to_dtype(dtype)?;
        let y: Vec<u32> = self.y.iter().map(|&c| c as u32).collect();
        Ok((x, Tensor::from_vec(y, self.len(), device)?))
    }

    fn batch_tensors(
        &self,
        idx: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<(Tensor, Tensor)> {
        self.subset(idx).tensors(dtype, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_carry_the_rows_and_labels() {
        let iris = Dataset::iris().unwrap();
        let (x, y) = iris.tensors(DType::F64, &Device::Cpu).unwrap();
        assert_eq!(x.dims(), &[150, 4]);
        assert_eq!(x.to_vec2::<f64>().unwrap()[7], iris.row(7));
        let (xb, yb) = iris
            .batch_tensors(&[3, 0], DType::F32, &Device::Cpu)
            .unwrap();
        assert_eq!(xb.dims(), &[2, 4]);
        assert_eq!(
            yb.to_vec1::<u32>().unwrap(),
            vec![iris.y[3] as u32, iris.y[0] as u32]
        );
        assert_eq!(y.to_vec1::<u32>().unwrap().len(), 150);
    }
}
